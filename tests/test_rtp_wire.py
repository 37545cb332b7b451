"""The E1 bench's packet timing (tests/bench/rtp_wire.py) on a stream made here: a lost frame,
a late one, and packets from other hosts ignored by the kernel filter."""
from __future__ import annotations

import pytest

from tests.bench import rtp_wire


@pytest.mark.skipif(bool(rtp_wire.available()), reason="packet capture needs root (CAP_NET_RAW)")
def test_the_wire_counts_lost_and_late_frames_from_one_host_only() -> None:
    rtp_wire.self_test()
