"""Config loading: the embedded default, and a clear error naming the key for each mistake."""
from __future__ import annotations

from pathlib import Path

import pytest

from edgepbx.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "box.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_default_matches_the_documented_values() -> None:
    config = load_config(None)
    assert str(config.sip.listen) == "127.0.0.1:5060"
    assert str(config.api.listen) == "127.0.0.1:8080"
    assert config.store.path == Path.cwd() / "var/edgepbx.db"
    assert config.central.uri == "" and config.ivr.flow == "ecommerce"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[store]\npath = "db/box.db"\n[ivr]\nflow = "my.toml"\n'))
    assert config.store.path == tmp_path / "db/box.db"
    assert config.ivr.flow == str(tmp_path / "my.toml")


@pytest.mark.parametrize("text, expected", [
    ('[sip]\nlisten = "127.0.0.1"\n', "[sip] listen: expected \"HOST:PORT\""),
    ('[sip]\nlisten = "127.0.0.1:99999"\n', "[sip] listen: expected \"HOST:PORT\" with a port"),
    ('[sip]\nmax_calls = 500\n', "[sip] max_calls: must be 1..64"),
    ('[sip]\nmax_calls = "8"\n', "[sip] max_calls: expected int"),
    ('[sip]\nlisen = "x"\n', "[sip] lisen: unknown key"),
    ('[sips]\nlisten = "x"\n', "[sips]: unknown section"),
    ('[central]\nuri = "http://central"\n', "[central] uri: must be a sip: or sips: URI"),
    ('[central]\nuri = "sips:queue@10.0.0.5;transport=tcp"\n', "[central] uri: a sips: URI goes over TLS"),
    ('[central]\nbackup_uri = "sip:8001@10.0.0.9;transport=sctp"\n', "[central] backup_uri: transport 'sctp' is not"),
    ('[sip]\ntls_listen = "127.0.0.1:5061"\n', "[sip] tls_listen: a TLS listener needs tls_cert and tls_key"),
    ('[sip]\nsrtp = "always"\n', "[sip] srtp: must be one of off, optional, mandatory"),
    ('[central]\nsrtp = "sometimes"\n', "[central] srtp: must be one of auto, off, optional, mandatory"),
    ('[sip]\ntls_ca = "/nonexistent/ca.pem"\n', "[sip] tls_ca: no such file"),
    ('[central]\nuri = "sip:queue@10.0.0.5;transport=sctp"\n', "[central] uri: transport 'sctp' is not supported"),
    ('[central]\ncallback_uri = "sip:gw@10.0.0.9"\n', "[central] callback_uri: must have {number} in it"),
    ('[ivr]\nlanguage = "fr"\n', "[ivr] language: must be one of zh, en"),
    ('[log]\nlevel = "loud"\n', "[log] level: must be one of"),
    ('[sip]\nlisten = "[::1]:5060"\n', "[sip] listen: SIP takes an IPv4 address"),
    ('[central]\ncallback_hours = "9-17"\n', "[central] callback_hours: '9' in '9-17' is not a time of day HH:MM"),
    ('[store\npath=1', "not valid TOML"),
    ('[sip]\nauth_user = "branch-17"\n', "[sip] auth_password: set both auth_user and auth_password, or neither"),
])
def test_each_bad_key_is_named(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert expected in str(info.value)
    assert str(tmp_path / "box.toml") in str(info.value)


def test_every_mistake_is_named_at_once(tmp_path: Path) -> None:
    """A technician fixes a config in one go, not one error per restart."""
    path = write(tmp_path, '[sip]\nlisten = "127.0.0.1:99999"\ntcp = "yes"\nlisen = 1\n'
                           '[central]\nuri = "queue@10.0.0.5"\n[sips]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [e.split(":")[0] for e in info.value.errors] == [
        "[sips]", "[sip] lisen", "[sip] listen", "[sip] tcp", "[central] uri"]
    lines = str(info.value).splitlines()
    assert len(lines) == 5 and all(line.startswith(f"{path}: ") for line in lines)


def test_a_mistyped_password_is_named_but_not_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, '[sip]\nauth_user = "branch-17"\nauth_password = 31415926\n'))
    assert "[sip] auth_password: expected str, got int" in str(info.value)
    assert "31415926" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
