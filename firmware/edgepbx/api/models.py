"""Request and response bodies; the OpenAPI document is generated from these."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

NUMBER = r"^\+?[0-9*#]{1,32}$"


def _whole_number(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        raise ValueError("expected an integer")
    return value


Int = Annotated[int, BeforeValidator(_whole_number)]  # JSON integers (3 or 3.0), never false or "3"
Number = Annotated[str, Field(pattern=NUMBER)]


class Strict(BaseModel):
    """Request bodies: unknown fields are errors."""
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str = Field(description="machine-readable code, e.g. invalid_flow, version_conflict")
    message: str
    details: list[Any] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok"]


class RecordCounts(BaseModel):
    total: int
    uncollected: int
    last_id: int


class Disk(BaseModel):
    path: str
    free_bytes: int
    total_bytes: int


class Line(BaseModel):
    kind: Literal["sip", "fxo"]
    address: str
    state: Literal["up", "down"]


class StatusOut(BaseModel):
    box: str
    version: str
    uptime_s: float
    started_at: float
    central: Literal["up", "down", "none"]
    mode: Literal["auto", "local", "central"]
    routing: Literal["central", "local"] = Field(description="where new calls go now (local: survivable mode)")
    expected_wait_s: float = Field(default=0.0, description="central's last fresh wait estimate")
    active_calls: int
    flow_version: int
    flow_name: str
    flow_sha256: str
    directory_version: int
    lines: list[Line]
    disk: Disk
    last_sync: float | None
    records: dict[str, RecordCounts]
    forwards_failed_in_a_row: int = Field(default=0, description="forwards to central that failed since one was "
                                                                 "answered (3 or more: an alarm, see the console)")
    last_forward_failure: str | None = Field(default=None, description="why the last failed forward failed")
    sip: SipAdmissionOut | None = Field(default=None, description="admission control (also GET /api/v1/sip)")
    alarms: list[str] = Field(default_factory=list, description="what needs attention (as the console's show alarms)")
    sms: "SmsStatusOut | None" = Field(default=None, description="the SMS modem and its queue (none: no [sms] device)")


class SmsStatusOut(BaseModel):
    device: str
    state: str = Field(description="off, opening, ready, absent, no_sim, not_answering, error")
    sim: str = Field(description="+CPIN: READY, SIM PIN, ...")
    registration: str = Field(description="home, roaming, searching, denied, not registered")
    signal_dbm: int | None
    last_error: str
    since: float = Field(description="when the modem entered this state (Unix time)")
    queued: int = Field(description="texts waiting to be sent")
    sent: int
    failed: int = Field(description="texts given up after [sms] attempts")


class SmsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=3, max_length=32, description="a mobile number of the box's country")
    text: str = Field(min_length=1, max_length=1530, description="up to 10 parts (1,530 GSM or 670 UCS2 characters)")


class SmsQueued(BaseModel):
    id: int = Field(description="the text's id in the box's queue")
    status: Literal["queued"] = "queued"


class SipAdmissionOut(BaseModel):
    trusted: list[str] = Field(description="[sip] trusted (empty on a loopback listen: 127.0.0.0/8); "
                                           "central's hosts are trusted anyway")
    untrusted: Literal["reject", "drop"]
    invite_rate: str
    calls_per_source: int
    admitted: int = Field(description="requests admitted since the box started")
    refused: dict[str, int] = Field(description="refusals since start by reason: untrusted, rate, blocked, calls, "
                                                "unconfirmed, malformed")
    refused_by_source: dict[str, int] = Field(description="the 20 sources refused most")
    blocked: dict[str, float] = Field(description="sources blocked now, with seconds left")
    rtp_foreign_dropped: int = Field(default=0, description="RTP packets dropped since start because they came from "
                                                            "a host other than the one the call's SDP names")


class SipTrustIn(Strict):
    trusted: list[Annotated[str, Field(max_length=253)]] = Field(max_length=256)
    untrusted: Literal["reject", "drop"] = "reject"


class FlowOut(BaseModel):
    version: int = Field(description="box-side version; 0 is the flow from the config file")
    label: str | None
    sha256: str
    name: str
    document: dict[str, Any] = Field(description="the flow document (the TOML flow format, as JSON)")


class FlowCheck(Strict):
    document: dict[str, Any]


class FlowCheckOut(BaseModel):
    valid: bool = Field(description="always true: an invalid flow is a 422 with every error, as for a push")
    name: str
    sha256: str = Field(description="what GET /api/v1/flow will show once this document is pushed")
    warnings: list[str] = Field(description="accepted, but worth a look (e.g. a prompt blind callers cannot use)")


class FlowPush(Strict):
    document: dict[str, Any]
    label: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    comment: str = Field(default="", max_length=500)
    base_version: Int | None = Field(default=None, ge=0, description="or send If-Match")


class FlowRollback(Strict):
    target: Int | Annotated[str, Field(min_length=1, max_length=64)] = Field(description="a version number or a label")
    comment: str = Field(default="", max_length=500)
    base_version: Int | None = Field(default=None, ge=0, description="or send If-Match")


class FlowVersionOut(BaseModel):
    version: int
    label: str | None
    sha256: str
    created_at: float
    comment: str
    rollback_of: int | None
    active: bool


class FlowHistory(BaseModel):
    items: list[FlowVersionOut]


class PromptOut(BaseModel):
    language: str
    prompt_id: str
    sha256: str
    bytes: int
    duration_s: float
    recorded: bool = Field(description="an operator's recording (false: synthesised default)")
    in_active_flow: bool


class PromptUploaded(PromptOut):
    source_sha256: str = Field(description="SHA-256 of the uploaded file, before conversion")


class PromptList(BaseModel):
    items: list[PromptOut]


class VoiceExampleOut(BaseModel):
    language: str
    key: str
    name: str
    duration_s: float


class VoiceExampleList(BaseModel):
    items: list[VoiceExampleOut]


class DirectoryEntryIn(Strict):
    number: str = Field(pattern=NUMBER)
    name: str = Field(default="", max_length=100)
    language: Literal["zh", "en"] | None = None
    flags: list[Literal["elderly", "visually_impaired", "vip"]] = Field(default_factory=list, max_length=3)
    notes: str = Field(default="", max_length=500, description="for the agent; sent with forwarded calls")


class DirectoryEntryOut(BaseModel):
    number: str
    name: str
    language: str | None
    flags: list[str]
    notes: str
    version: int
    updated_at: float


class DirectoryChange(Strict):
    upsert: list[DirectoryEntryIn] = Field(default_factory=list, max_length=10000)
    delete: list[Number] = Field(default_factory=list, max_length=10000)
    base_version: Int | None = Field(default=None, ge=0)


class DirectoryChanged(BaseModel):
    version: int
    upserted: int
    deleted: int


class DirectoryPage(BaseModel):
    items: list[DirectoryEntryOut]
    next: str
    version: int


class Page(BaseModel):
    items: list[dict[str, Any]] = Field(description="records, oldest first; each has a stable integer id")
    next: int = Field(description="pass as `after` to continue; equals `after` when there is nothing new")


class Ack(Strict):
    through: Int = Field(ge=0, le=2**62, description="every record with id <= through is collected")


class Acked(BaseModel):
    acknowledged: int


class ModeIn(Strict):
    mode: Literal["auto", "local", "central"]


class ModeOut(BaseModel):
    mode: Literal["auto", "local", "central"]
    central: Literal["up", "down", "none"]
    routing: Literal["central", "local"]


class EventOut(BaseModel):
    id: int
    at: float
    what: str = Field(description="link, routing or mode")
    old: str
    new: str
    cause: str


class EventPage(BaseModel):
    items: list[EventOut]
    next: int


class WaitIn(Strict):
    seconds: Int = Field(ge=0, le=86400, description="expected wait for an agent, seconds")
    valid_for_s: Int = Field(default=600, ge=10, le=86400, description="forget the estimate after this long")


class WaitOut(BaseModel):
    seconds: float
    announce_over_s: float


class DialerIn(Strict):
    enabled: StrictBool


class DialerOut(BaseModel):
    enabled: bool
    callback_uri: str = Field(description="[central] callback_uri; empty: the box cannot dial out")
    attempts: int
    retry_s: float
    hours: str = Field(description="[central] callback_hours: local time the box may call people back")
    in_hours: bool = Field(description="whether it may call now (outside the hours it waits for them)")
    international: bool = Field(description="[central] callback_international: whether the box also dials numbers "
                                            "of other countries (off: they are left to central, 'not dialled')")
