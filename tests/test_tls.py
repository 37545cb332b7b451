"""TLS and SRTP pieces without a call: URIs, certificate alarms, the prober's TLS failures."""
from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

from edgepbx.central.prober import OptionsProber, failure_detail, target, tls_context
from edgepbx.config import central_srtp, parse_config
from edgepbx.sip.certs import certificate_alarms, own_expiry
from edgepbx.sip.uri import as_tls_hop, is_tls
from tests.tls_certs import Ca


def test_tls_uris_and_how_the_box_dials_them() -> None:
    assert is_tls("sips:queue@10.0.0.5") and is_tls("sip:queue@10.0.0.5;transport=TLS") and not is_tls("sip:q@h")
    assert as_tls_hop("sips:queue@10.0.0.5") == "sip:queue@10.0.0.5;transport=tls"
    assert as_tls_hop("sips:{number}@gw:5061;user=phone") == "sip:{number}@gw:5061;user=phone;transport=tls"
    assert as_tls_hop("sip:q@h;transport=tcp") == "sip:q@h;transport=tcp"
    assert target("sips:queue@10.0.0.5") == ("10.0.0.5", 5061) and target("sip:q@h") == ("h", 5060)


def test_srtp_to_central_is_mandatory_over_tls_unless_said_otherwise() -> None:
    def config(central: str) -> object:
        return parse_config(f"[central]\n{central}\n", "t.toml", Path("/tmp"))
    assert central_srtp(config('uri = "sips:q@10.0.0.5"')) == "mandatory"
    assert central_srtp(config('uri = "sip:q@10.0.0.5"')) == "off"
    assert central_srtp(config('uri = "sips:q@10.0.0.5"\nsrtp = "optional"')) == "optional"


def test_certificates_expiring_within_30_days_or_expired_raise_alarms(tmp_path: Path) -> None:
    ca = Ca(tmp_path)
    now = time.time()
    fine, soon, gone = ca.issue("fine", days=400), ca.issue("soon", days=10), ca.issue("gone", expired=True)
    assert certificate_alarms(now, fine.cert, None, None) == {}
    assert "expires on" in certificate_alarms(now, soon.cert, None, None)["cert:box"]
    assert "EXPIRED" in certificate_alarms(now, gone.cert, None, None)["cert:box"]
    central = {"notAfter": time.strftime("%b %d %H:%M:%S %Y GMT", time.gmtime(now + 5 * 86400))}
    alarms = certificate_alarms(now, None, central, "TLS: certificate not accepted: x")
    assert "central's TLS certificate expires" in alarms["cert:central"] and "calls are answered locally" in alarms["tls:central"]
    assert abs(own_expiry(fine.cert) - (now + 400 * 86400)) < 3600


def test_the_prober_names_a_certificate_that_does_not_verify(tmp_path: Path) -> None:
    """A TLS server on loopback with a certificate of another CA: every probe fails, saying why."""
    ours, theirs = Ca(tmp_path / "ours"), Ca(tmp_path / "theirs", name="another CA")
    served = theirs.issue("central")

    async def go() -> list[tuple[bool, str]]:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(served.cert, served.key)
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        results: list[tuple[bool, str]] = []
        prober = OptionsProber(f"sips:queue@127.0.0.1:{port}", "127.0.0.1", lambda a, t, d: results.append((a, d)),
                               interval_s=0.2, timeout_s=1.0, tls=tls_context(str(ours.files.cert)))
        await prober.start()
        await asyncio.sleep(1.0)
        await prober.stop()
        server.close()
        return results
    results = asyncio.run(go())
    assert len(results) >= 3 and all(not ok and d.startswith("TLS: certificate not accepted") for ok, d in results)
    assert failure_detail(ConnectionRefusedError(111, "Connection refused")) == "Connection refused"
