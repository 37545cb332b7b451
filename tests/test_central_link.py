"""The central link state machine (hysteresis, modes), the OPTIONS prober on a real UDP socket,
the pin map and the status LEDs on gpiozero's MockFactory."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from edgepbx.central.link import CentralLink
from edgepbx.central.prober import OptionsProber, target
from edgepbx.config import ConfigError
from edgepbx.panel.leds import StatusLeds
from edgepbx.panel.pins import load_pins

ROOT = Path(__file__).resolve().parents[1]


def run(link: CentralLink, answers: str, start: float = 0.0) -> list[tuple[float, str, str]]:
    """Feed one probe per second ('1' answered, '0' not); return (time, what, new) transitions."""
    out = []
    for i, a in enumerate(answers):
        for t in link.probed(a == "1", start + i):
            out.append((start + i, t.what, t.new))
    return out


def test_down_after_three_silent_probes_up_after_five_steady_answers() -> None:
    link = CentralLink(True)
    assert link.state == "up" and link.routing == "central"
    assert run(link, "1110") == []
    assert run(link, "00", 4) == [(5, "link", "down"), (5, "routing", "local")]
    assert run(link, "1111", 6) == []  # four answers are not yet steady
    assert run(link, "1", 10) == [(10, "link", "up"), (10, "routing", "central")]


def test_a_flapping_link_stays_down() -> None:
    link = CentralLink(True)
    run(link, "000")
    assert link.state == "down"
    assert run(link, "1101110111101111011110", 3) == []  # never five in a row
    assert link.state == "down" and link.routing == "local"


def test_modes_override_routing_and_are_recorded() -> None:
    link = CentralLink(True)
    [mode, routing] = link.set_mode("local", 1.0, "technician")
    assert (mode.what, mode.new, routing.new) == ("mode", "local", "local") and "technician" in mode.cause
    run(link, "000")
    assert link.routing == "local"
    assert [t.what for t in link.set_mode("central", 2.0, "ops")] == ["mode", "routing"]
    assert link.state == "down" and link.routing == "central"  # forced: each call falls back alone
    with pytest.raises(ValueError):
        link.set_mode("sideways", 3.0, "x")
    assert CentralLink(False).routing == "local" and CentralLink(False).probed(True, 0) == []


class Responder(asyncio.DatagramProtocol):
    """A central that answers every OPTIONS 200 over UDP."""

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # noqa: ANN001
        via = [line for line in data.decode().split("\r\n") if line.startswith("Via:")][0]
        self.transport.sendto(f"SIP/2.0 200 OK\r\n{via}\r\nContent-Length: 0\r\n\r\n".encode(), addr)


def test_prober_against_a_real_sip_responder_and_silence() -> None:
    async def scenario() -> list[bool]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Responder, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        results: list[bool] = []
        prober = OptionsProber(f"sip:queue@localhost:{port}", "127.0.0.1",  # a name: looked up off the loop
                               lambda ok, now, detail: results.append(ok), interval_s=0.2, timeout_s=0.2)
        await prober.start()
        await asyncio.sleep(0.7)
        transport.close()  # central goes silent
        await asyncio.sleep(1.0)
        await prober.stop()
        return results

    results = asyncio.run(scenario())
    assert results[:3] == [True, True, True] and results[-2:] == [False, False]
    assert target("sip:queue@10.0.0.5") == ("10.0.0.5", 5060) and target("sips:q@[::1]:5071") == ("::1", 5071)


def test_a_tcp_central_is_probed_over_tcp_and_again_after_it_restarts() -> None:
    """With ;transport=tcp, forwards go by TCP, so the probes must too: a central listening on
    TCP only was declared down (UDP probes unanswered) and every call stayed local."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.add(writer)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                via = [line for line in head.split("\r\n") if line.startswith("Via:")][0]
                assert "SIP/2.0/TCP" in via
                writer.write(f"SIP/2.0 100 Trying\r\n{via}\r\nContent-Length: 0\r\n\r\n"
                             f"SIP/2.0 200 OK\r\n{via}\r\nContent-Length: 4\r\n\r\nv=0\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    async def scenario() -> tuple[list[bool], list[bool], list[bool]]:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        results: list[bool] = []
        prober = OptionsProber(f"sip:queue@127.0.0.1:{port};transport=tcp", "127.0.0.1",
                               lambda ok, now, detail: results.append(ok), interval_s=0.2, timeout_s=0.2)
        await prober.start()
        await asyncio.sleep(0.7)
        server.close()                       # central stops: its connections go with it
        for writer in list(connections):
            writer.close()
        await asyncio.sleep(0.7)
        down = len(results)
        server2 = await asyncio.start_server(answer, "127.0.0.1", port)   # back on the same port
        await asyncio.sleep(0.7)
        await prober.stop()
        server2.close()
        for writer in connections:
            writer.close()
        await asyncio.sleep(0.05)
        return results[:3], results[down - 2:down], results[-2:]

    connections: set[asyncio.StreamWriter] = set()
    first, while_down, after = asyncio.run(scenario())
    assert first == [True, True, True] and while_down == [False, False] and after == [True, True]


def test_a_central_name_that_resolves_slowly_never_stalls_the_box() -> None:
    """Central by host name, with the WAN (and so the DNS server) down: the lookup takes
    seconds. Probes say down meanwhile, one lookup runs at a time, and the event loop (every
    call's IVR) keeps ticking; once the name resolves, central is up."""
    async def scenario() -> tuple[list[bool], int, float]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Responder, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        lookups = 0

        async def slow_dns(host: str, wanted_port: int) -> list:
            nonlocal lookups
            lookups += 1
            await asyncio.sleep(1.5)                 # a resolver waiting on a dead link
            return [(2, 2, 17, "", ("127.0.0.1", wanted_port))]

        results: list[bool] = []
        prober = OptionsProber(f"sip:queue@central.branch.example:{port}", "127.0.0.1",
                               lambda ok, now, detail: results.append(ok), interval_s=0.2, timeout_s=0.2,
                               resolve=slow_dns)
        await prober.start()
        worst, last = 0.0, time.monotonic()
        for _ in range(50):                          # 2.5 s of a 50 ms tick
            await asyncio.sleep(0.05)
            now = time.monotonic()
            worst, last = max(worst, now - last), now
        await prober.stop()
        transport.close()
        return results, lookups, worst

    results, lookups, worst = asyncio.run(scenario())
    assert results[:4] == [False] * 4 and results[-2:] == [True, True], results
    assert lookups == 1 and worst < 0.15, (lookups, worst)


def test_pin_map_and_leds_on_gpiozero_mock_pins(tmp_path: Path) -> None:
    pins = load_pins(ROOT / "hardware" / "pins-rpi4.toml")
    factory = MockFactory()
    leds = StatusLeds(pins, factory)
    central, survivable = factory.pin(pins["led_central"]), factory.pin(pins["led_survivable"])
    leds.show("up", "central")
    assert central.state and not survivable.state
    central.clear_states()
    leds.show("down", "local")
    time.sleep(1.3)
    assert survivable.state
    assert {s.state for s in central.states} >= {True, False}  # blinking
    leds.show("none", "local")
    assert not central.state
    leds.close()
    bad = tmp_path / "pins.toml"
    bad.write_text("[pins]\nled_centrl = 22\n")
    with pytest.raises(ConfigError, match="led_centrl: unknown pin name"):
        load_pins(bad)
    bad.write_text("[pins]\nled_central = 22\nled_survivable = 22\n")
    with pytest.raises(ConfigError, match="GPIO 22 is already led_central"):
        load_pins(bad)
