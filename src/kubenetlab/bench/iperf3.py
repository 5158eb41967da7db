"""iperf3 --json: TCP_STREAM (Gbit/s, retransmits) and UDP stream (loss %)."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class Iperf3Summary:
    version: str | None
    protocol: str
    seconds: float
    bytes_received: int
    bytes_all_intervals: int  # warm-up (omitted) seconds included, to match CPU measured over all
    gbps_sent: float
    gbps_received: float
    retransmits: int | None
    lost_percent: float | None
    lost_packets: int | None
    jitter_ms: float | None
    cpu_host_percent: float | None
    cpu_remote_percent: float | None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def parse_json(text: str) -> Iperf3Summary:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"iperf3 printed no JSON: {text.strip()[:200]}") from exc
    if "error" in doc:
        raise ValueError(f"iperf3 failed: {doc['error']}")
    start, end = doc["start"], doc["end"]
    protocol = start["test_start"]["protocol"]
    cpu = end.get("cpu_utilization_percent", {})
    all_bytes = sum(int(i["sum"]["bytes"]) for i in doc.get("intervals", []))
    udp = protocol == "UDP"
    # UDP reports its loss in end.sum; TCP has no end.sum, only the two directions.
    total = end["sum"] if udp else {}
    sent = end.get("sum_sent", total)
    received = end.get("sum_received", total)
    return Iperf3Summary(
        version=start.get("version"),
        protocol=protocol,
        seconds=(total or received)["seconds"],
        bytes_received=int(received["bytes"]),
        bytes_all_intervals=all_bytes,
        gbps_sent=sent["bits_per_second"] / 1e9,
        gbps_received=received["bits_per_second"] / 1e9,
        retransmits=None if udp else sent.get("retransmits"),
        lost_percent=total.get("lost_percent"),
        lost_packets=total.get("lost_packets"),
        jitter_ms=total.get("jitter_ms"),
        cpu_host_percent=cpu.get("host_total"),
        cpu_remote_percent=cpu.get("remote_total"),
    )


def server_argv(port: int) -> list[str]:
    return ["iperf3", "-s", "-4", "-p", str(port)]  # the lab is IPv4-only


def client_argv(
    host: str,
    port: int,
    seconds: float,
    udp: bool,
    udp_payload: int,
    length: int | None = None,
    omit: int = 1,
) -> list[str]:
    """`length` (iperf3 -l): bytes per write (TCP) or per datagram (UDP)."""
    argv = ["iperf3", "-c", host, "-p", str(port), "-t", str(max(1, round(seconds))), "-J"]
    if udp:
        # -b 0: as fast as it goes; payload sized by default to fit the pod MTU unfragmented.
        argv += ["-u", "-b", "0", "-l", str(length or udp_payload)]
    else:
        argv += ["-O", str(omit)]  # TCP slow start excluded as warm-up
        if length:
            argv += ["-l", str(length)]
    return argv
