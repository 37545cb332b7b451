"""Texts with the real box process and a simulated modem on a pseudo-terminal (tests/sim_modem.py):
an outage callback confirmed by SMS, the text line for deaf callers pulled and answered through
the sync API, and what a hostile or careless request gets."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.support import Box, free_sip_port, place_call
from tests.e2e.test_console import PASSWORD, Terminal, set_password
from tests.e2e.test_outage import api, wait_until
from tests.sim_modem import SimModem

pytestmark = pytest.mark.e2e


def test_texts_confirm_outage_callbacks_and_carry_a_text_line_to_central(tmp_path: Path) -> None:
    modem = SimModem()
    term = Terminal()
    central_down = f"sip:queue@127.0.0.1:{free_sip_port()}"        # nothing answers: an outage
    box = Box(tmp_path, central=central_down, language="en",
              extra=f'[sms]\ndevice = "{modem.device}"\ncommand_timeout_s = 2.0\nretry_s = 1.0\n'
                    f'[console]\nport = "{term.name}"\n')
    set_password(box.config, PASSWORD)
    try:
        ops = api(box)
        wait_until(lambda: ops.get("/api/v1/status").json()["central"] == "down", 8, "central declared down")
        wait_until(lambda: (ops.get("/api/v1/status").json()["sms"] or {}).get("state") == "ready", 10, "modem ready")
        sms = ops.get("/api/v1/status").json()["sms"]
        assert sms["sim"] == "READY" and sms["registration"] == "home" and sms["signal_dbm"] == -71

        # A caller on a mobile asks for a callback during the outage: confirmed by text, in English.
        place_call(box.uri, "1,1", tmp_path / "a.wav", wait=3, gap=2, hold=6, cwd=tmp_path, from_user="13800000001")
        [confirmation] = modem.wait_sent(1)
        assert confirmation.to == "+8613800000001" and "callback request is booked" in confirmation.text

        # A landline caller gets no text (only mobiles of the box's country).
        place_call(box.uri, "1,1", tmp_path / "b.wav", wait=3, gap=2, hold=6, cwd=tmp_path, from_user="01012345678")
        assert "no outage_callback text to 01012345678: not a mobile number" in box.output

        # A deaf caller texts the box: stored, acknowledged with the outage reply, pulled by central.
        modem.deliver("+8613912345678", "我的卡 6222021234567890 丢了，请帮忙", ucs2=True)
        sent = modem.wait_sent(2)
        assert sent[1].to == "+8613912345678" and sent[1].text.startswith("收到。客服中心暂时无法接通")
        items = ops.get("/api/v1/sms").json()["items"]
        assert [(i["sender"], i["during_outage"]) for i in items] == [("+8613912345678", 1)]
        assert "6222021234567890" in items[0]["text"]                   # central gets the text as sent ...
        assert "6222021234567890" not in box.output                     # ... the log never does

        # Central's agent answers by text; the queue survives nothing being wrong with it.
        answer = ops.post("/api/v1/sms", json={"to": "+8613912345678", "text": "您好，卡已冻结。"})
        assert answer.status_code == 202 and answer.json()["status"] == "queued"
        assert modem.wait_sent(3)[2].text == "您好，卡已冻结。"
        refused = ops.post("/api/v1/sms", json={"to": "+447700900123", "text": "hello"})
        assert refused.status_code == 422 and "not a number of this country" in refused.json()["message"]
        assert ops.post("/api/v1/sms", json={"to": "13800000001"}).status_code == 422
        assert ops.post("/api/v1/sms/ack", json={"through": items[-1]["id"]}).json() == {"acknowledged": 1}

        # The modem stops answering: the status says so, a text queued meanwhile goes when it is back.
        modem.silent = True
        ops.post("/api/v1/sms", json={"to": "13800000002", "text": "later"})
        wait_until(lambda: ops.get("/api/v1/status").json()["sms"]["state"] == "not_answering", 15, "fault seen")
        assert ops.get("/api/v1/status").json()["sms"]["queued"] == 1
        term.send("\r")                                   # the technician sees it on the console
        term.expect("Password: ")
        term.send(PASSWORD + "\r")
        term.expect("edgepbx> ")
        shown = term.command("show sms")
        assert "not answering" in shown and "1 queued" in shown, shown
        assert "SMS modem not answering" in term.command("show alarms")
        modem.silent = False
        assert modem.wait_sent(4, timeout=30)[3].text == "later"
        wait_until(lambda: ops.get("/api/v1/status").json()["sms"]["state"] == "ready", 15, "modem ready again")
        shown = term.command("show sms")
        assert "ready" in shown and "SIM READY, network home, signal -71 dBm" in shown, shown
        assert "test text" in term.command("test sms 13800000009")
        assert modem.wait_sent(5)[4].to == "+8613800000009"
        assert "% not sent: not a mobile number" in term.command("test sms 01012345678")
    finally:
        assert box.stop() == 0, box.output
        modem.close()
        term.close()


TEXT_FLOW = """
[flow]
name = "shop"
start = "main"
languages = ["en"]
fallback = "operator"

[prompts.shop_main]
en = "For an order, press 1. To continue by text message, press 8."

[prompts.shop_order]
en = "Enter your order number, then press the hash key."

[prompts.shop_texted]
en = "We have sent you a text message. Goodbye."

[nodes.main]
type = "menu"
prompt = "shop_main"
options = { "1" = "order", "8" = "by_text" }

[nodes.order]
type = "collect"
prompt = "shop_order"
field = "order_number"
next = "order_link"

[nodes.order_link]
type = "text"
prompt = "shop_texted"
text = { en = "Order {order_number}: https://m.example.com/o/{order_number}" }
next = "goodbye"

[nodes.by_text]
type = "text"
prompt = "shop_texted"
text = { en = "Hello: reply to this text with your question, and an agent will answer by text." }
next = "goodbye"

[nodes.operator]
type = "forward"

[nodes.goodbye]
type = "hangup"
prompt = "goodbye"
"""


def test_flow_text_nodes_send_a_link_and_start_a_text_thread(tmp_path: Path) -> None:
    modem = SimModem()
    flow = tmp_path / "shop.toml"
    flow.write_text(TEXT_FLOW, encoding="utf-8")
    box = Box(tmp_path, flow=str(flow), language="en", extra=f'[sms]\ndevice = "{modem.device}"\n')
    try:
        ops = api(box)
        wait_until(lambda: (ops.get("/api/v1/status").json()["sms"] or {}).get("state") == "ready", 10, "modem ready")
        place_call(box.uri, "1,4,2,4,2,4,2,#", tmp_path / "a.wav", wait=2, gap=0.4, hold=3, cwd=tmp_path,
                   from_user="13800000001")
        [link] = modem.wait_sent(1)
        assert (link.to, link.text) == ("+8613800000001", "Order 424242: https://m.example.com/o/424242")
        place_call(box.uri, "8", tmp_path / "b.wav", wait=2, hold=3, cwd=tmp_path, from_user="13800000002")
        thread = modem.wait_sent(2)[1]
        assert thread.to == "+8613800000002" and thread.text.startswith("Hello: reply to this text")
        modem.deliver("13800000002", "My parcel is damaged")         # the caller answers by text
        modem.wait_sent(3)
        assert [i["text"] for i in ops.get("/api/v1/sms").json()["items"]] == ["My parcel is damaged"]
    finally:
        assert box.stop() == 0, box.output
        modem.close()
