"""SIP over TLS and SRTP, with certificates made here: caller → box, box → central, and what
happens when central's certificate does not verify."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.audio_match import read_wav, tone_power_after
from tests.e2e.support import Box, Central, free_sip_port, heard_in_order
from tests.tls_certs import Ca

pytestmark = pytest.mark.e2e


def _tls_box(tmp: Path, ca: Ca, central_port: int, **extra: str) -> Box:
    box_cert = ca.issue("box")
    tls_port = free_sip_port()
    box = Box(tmp, language="en", central=f"sips:queue@127.0.0.1:{central_port}",
              sip_extra=f'tls_listen = "127.0.0.1:{tls_port}"\ntls_cert = "{box_cert.cert}"\n'
                        f'tls_key = "{box_cert.key}"\ntls_ca = "{ca.files.cert}"\nsrtp = "mandatory"\n')
    box.tls_uri = f"sips:ivr@127.0.0.1:{tls_port}"       # type: ignore[attr-defined]
    return box


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Box, Central, Ca, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    ca = Ca(tmp / "ca")
    central_cert = ca.issue("central")
    tls_port = free_sip_port()
    central = Central(tmp, "--tls-listen", str(tls_port), "--tls-cert", str(central_cert.cert),
                      "--tls-key", str(central_cert.key), "--srtp", "mandatory")
    box = _tls_box(tmp, ca, tls_port)
    yield box, central, ca, tmp
    box.stop()
    central.stop()


def call(uri: str, *args: str, record: Path | None = None, cwd: Path, wait: float = 1.0) -> dict:
    cmd = [sys.executable, "-m", "edgepbx.tools.call", uri, "--wait", str(wait), "--gap", "1", "--timeout", "30", *args]
    if record is not None:
        cmd += ["--record", str(record)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=cwd)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_caller_reaches_the_box_over_tls_with_srtp(setup: tuple[Box, Central, Ca, Path]) -> None:
    box, _, ca, tmp = setup
    result = call(box.tls_uri, "--srtp", "mandatory", "--tls-ca", str(ca.files.cert), "--dtmf", "2", "--inband",
                  "--hold", "3", record=tmp / "tls-caller.wav", cwd=tmp, wait=2.0)   # a full second of the prompt before the key
    assert result["answered"] and result["srtp"] is True, result
    heard_in_order(tmp / "tls-caller.wav", [("ecom_language", "zh"), ("ecom_main", "en")])   # keys and audio work
    assert "key 2 (inband)" in box.output                  # the DSP tap hears the decrypted audio


def test_a_forward_to_central_goes_over_tls_with_srtp_and_carries_audio(setup: tuple[Box, Central, Ca, Path]) -> None:
    box, central, ca, tmp = setup
    result = call(box.tls_uri, "--srtp", "mandatory", "--tls-ca", str(ca.files.cert), "--dtmf", "2,0", "--hold", "6",
                  record=tmp / "tls-forward.wav", cwd=tmp)
    assert result["answered"], result
    [forward] = [c for c in central.calls() if c["headers"].get("X-EdgePBX-Box")][-1:]
    assert forward["transport"] == "TLS" and forward["profiles"] == ["RTP/SAVP"] and forward["srtp_keys_offered"]
    assert forward["headers"]["X-EdgePBX-Box"] == "test-branch"         # the IVR context, over TLS
    audio, rate = read_wav(tmp / "tls-forward.wav")
    assert tone_power_after(audio, rate, len(audio) / rate - 3.0, Central.TONE_HZ) > 0.5, "central not heard"
    assert "inline:" not in box.output and "a=crypto" not in box.output     # SDES keys never logged


def test_a_plain_rtp_offer_is_refused_when_srtp_is_mandatory(setup: tuple[Box, Central, Ca, Path]) -> None:
    box, _, ca, tmp = setup
    result = call(box.tls_uri, "--srtp", "off", "--tls-ca", str(ca.files.cert), "--dtmf", "2", cwd=tmp)
    assert result["code"] == 488 and not result["answered"], result
    box.wait_for('over SRTP only ([sip] srtp = "mandatory")', timeout=5)


@pytest.mark.parametrize("problem", ["another CA", "expired"])
def test_central_whose_certificate_does_not_verify_is_down_with_the_reason(tmp_path: Path, problem: str) -> None:
    ca = Ca(tmp_path / "ca")
    stranger = (Ca(tmp_path / "other", name="someone else's CA").issue("central") if problem == "another CA"
                else ca.issue("central", expired=True))
    tls_port = free_sip_port()
    central = Central(tmp_path, "--tls-listen", str(tls_port), "--tls-cert", str(stranger.cert),
                      "--tls-key", str(stranger.key), "--srtp", "mandatory")
    box = _tls_box(tmp_path, ca, tls_port)
    try:
        box.wait_for("TLS: certificate not accepted: " + ("certificate has expired" if problem == "expired" else ""),
                      timeout=10)
        box.wait_for("central link: up -> down", timeout=10)
        token = box.create_token("ops", "read")
        status = httpx.get(f"{box.api}/api/v1/status", headers={"Authorization": f"Bearer {token}"}).json()
        assert status["central"] == "down" and status["routing"] == "local"
        deadline = time.monotonic() + 10
        while not any("TLS to central fails" in a for a in status["alarms"]) and time.monotonic() < deadline:
            time.sleep(0.5)
            status = httpx.get(f"{box.api}/api/v1/status", headers={"Authorization": f"Bearer {token}"}).json()
        assert any("TLS to central fails" in a and "certificate" in a for a in status["alarms"]), status["alarms"]
        result = call(box.tls_uri, "--srtp", "mandatory", "--tls-ca", str(ca.files.cert), "--dtmf", "2,0",
                      "--hold", "2", cwd=tmp_path)
        assert result["answered"], result                     # answered locally: survivable mode
        assert not central.calls()
    finally:
        box.stop()
        central.stop()


class _Sniffer:
    """UDP datagrams on the loopback interface, as a packet capture sees them (root only:
    an AF_PACKET socket), while the `with` block runs."""

    def __init__(self) -> None:
        import socket
        import threading
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.packets: list[tuple[int, int, bytes]] = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.running:
            try:
                frame = self.sock.recv(65535)
            except OSError:
                continue
            ip = frame[14:]
            if len(ip) < 28 or ip[9] != 17:
                continue
            udp = ip[(ip[0] & 0x0F) * 4:]
            self.packets.append((int.from_bytes(udp[0:2], "big"), int.from_bytes(udp[2:4], "big"), udp[8:]))

    def __enter__(self) -> "_Sniffer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()

    def flows_carrying(self, hz: float) -> set[tuple[int, int]]:
        """(source port, destination port) of RTP flows whose payloads, read as G.711 µ-law,
        are mostly a tone at `hz`: audio anyone on the path could listen to."""
        import audioop
        import numpy as np
        flows: dict[tuple[int, int], list[bytes]] = {}
        for sport, dport, data in self.packets:
            if len(data) >= 12 + 160 and data[0] >> 6 == 2 and data[1] & 0x7F == 0:     # RTP, PCMU
                flows.setdefault((sport, dport), []).append(data[12:12 + 160])
        found = set()
        for flow, payloads in flows.items():
            if len(payloads) < 50:
                continue
            pcm = np.frombuffer(audioop.ulaw2lin(b"".join(payloads[-100:]), 2), dtype="<i2").astype(float)
            spectrum = np.abs(np.fft.rfft(pcm)) ** 2
            freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
            if spectrum[(freqs > hz - 20) & (freqs < hz + 20)].sum() > 0.5 * spectrum.sum():
                found.add(flow)
        return found


def test_on_the_wire_central_audio_is_encrypted_yet_heard(setup: tuple[Box, Central, Ca, Path]) -> None:
    """A capture on loopback: a plain RTP call to central shows its tone in the clear (the
    control); the TLS+SRTP forward shows no audio anyone could decode, and the caller hears it."""
    box, central, ca, tmp = setup
    try:
        _Sniffer().sock.close()
    except PermissionError:                  # a capture needs root (CAP_NET_RAW), as CI and these machines have
        pytest.skip("a packet capture needs CAP_NET_RAW")
    (tmp / "clear").mkdir(exist_ok=True)
    clear = Central(tmp / "clear")                     # plain RTP, for the control
    try:
        with _Sniffer() as plain:
            result = call(clear.uri, "--srtp", "off", "--dtmf", "", "--hold", "3", cwd=tmp)
    finally:
        clear.stop()
    assert result["answered"] and plain.flows_carrying(Central.TONE_HZ), "the control failed: no clear tone seen"
    with _Sniffer() as secured:
        result = call(box.tls_uri, "--srtp", "mandatory", "--tls-ca", str(ca.files.cert), "--dtmf", "2,0",
                      "--hold", "5", record=tmp / "wire.wav", cwd=tmp)
    assert result["answered"], result
    assert len(secured.packets) > 200 and not secured.flows_carrying(Central.TONE_HZ)
    audio, rate = read_wav(tmp / "wire.wav")
    assert tone_power_after(audio, rate, len(audio) / rate - 3.0, Central.TONE_HZ) > 0.5, "central not heard"
