"""Parsers against real output captured from the installed tools (tests/fixtures/tools)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubenetlab.bench import iperf3, sockperf
from kubenetlab.bench.stats import histogram_of, latency_summary_us

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tools"


def test_sockperf_tcp_summary() -> None:
    s = sockperf.parse_summary((FIXTURES / "sockperf-3.7-pingpong-tcp-fullrtt.txt").read_text())
    assert s.version == "3.7-no.git"
    assert s.observations == 14042
    assert s.percentiles_us["50.000"] == 55.899
    assert s.percentiles_us["99.000"] == 2025.105
    assert s.percentiles_us["99.900"] == 4305.216
    assert (s.max_us, s.min_us) == (9090.445, 18.793)
    assert (s.sent, s.received, s.warmup_ms) == (17402, 17401, 400)
    assert s.valid_seconds == 1.549
    assert (s.dropped, s.duplicated, s.out_of_order) == (0, 0, 0)


def test_sockperf_udp_summary() -> None:
    s = sockperf.parse_summary((FIXTURES / "sockperf-3.7-pingpong-udp-fullrtt.txt").read_text())
    assert s.observations > 1000
    assert s.percentiles_us["50.000"] == 19.547
    assert s.min_us == 17.522


def test_sockperf_full_log_rows_are_round_trips_in_ns() -> None:
    samples = sockperf.parse_full_log((FIXTURES / "sockperf-3.7-fulllog.csv").read_text())
    assert len(samples) == 200
    assert samples[:3] == [55014, 54280, 104776]  # rtt(usec) 55.014, 54.280, 104.776


def test_sockperf_error_is_reported() -> None:
    text = "sockperf: == version #3.7 ==\nsockperf: ERROR: Can`t connect socket (errno=111)\n"
    with pytest.raises(ValueError, match="Can`t connect"):
        sockperf.parse_summary(text)


def test_iperf3_tcp() -> None:
    r = iperf3.parse_json((FIXTURES / "iperf3-3.12-tcp.json").read_text())
    assert r.protocol == "TCP" and r.version == "iperf 3.12"
    assert r.gbps_sent == pytest.approx(4.7539, rel=1e-4)
    assert r.retransmits == 644
    assert r.bytes_all_intervals >= r.bytes_received > 0
    assert r.lost_percent is None


def test_iperf3_udp() -> None:
    r = iperf3.parse_json((FIXTURES / "iperf3-3.12-udp.json").read_text())
    assert r.protocol == "UDP"
    assert r.lost_percent == pytest.approx(45.277, rel=1e-4)
    assert r.lost_packets == 85003
    assert r.retransmits is None


def test_iperf3_error_document() -> None:
    with pytest.raises(ValueError, match="unable to connect"):
        iperf3.parse_json('{"start": {}, "error": "unable to connect to server"}')


def test_hdr_percentiles_of_sockperf_samples_match_sockperf_within_histogram_precision() -> None:
    """Our percentiles from the full log agree with sockperf's own on the same samples."""
    samples = sockperf.parse_full_log((FIXTURES / "sockperf-3.7-fulllog.csv").read_text())
    ours = latency_summary_us(histogram_of(samples))
    exact = sorted(samples)
    # nearest-rank p50 over the 200 samples, as sockperf computes it
    assert ours["p50"] == pytest.approx(exact[99] / 1000, rel=2e-3)
    assert ours["max"] == pytest.approx(exact[-1] / 1000, rel=2e-3)
    assert ours["observations"] == 200


def test_birdc_show_protocols_is_parsed_into_bgp_sessions() -> None:
    from kubenetlab.routing.bird import parse_protocols

    # Captured from BIRD 2.0.12 (Debian bird2) in a 3-node lab, before and after
    # node3's BIRD was stopped.
    up = parse_protocols((FIXTURES / "birdc-show-protocols-up.txt").read_text())
    assert [(s.protocol, s.state, s.info, s.established) for s in up] == [
        ("peer2", "up", "Established", True),
        ("peer3", "up", "Established", True),
    ]
    down = parse_protocols((FIXTURES / "birdc-show-protocols-peer-down.txt").read_text())
    peer3 = down[1]
    assert (peer3.state, peer3.established) == ("start", False)
    assert peer3.info == "Active        Socket: Connection refused"
