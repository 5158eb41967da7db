"""`kubenetlab locality` against a real DNS server (dnsmasq) in a lab namespace that
answers with chosen public addresses; the command runs in another pod, so no query and no
SYN leaves the lab. An EEA address passes, a non-EEA one is flagged, NXDOMAIN is reported
as such, a reachable lab address gets a round-trip time, and a resolver that does not
answer is a clear error within the timeout."""

from __future__ import annotations

import json
import socket
import sys
import time

import pytest

from kubenetlab.kernel import netns, procs
from kubenetlab.kernel.ledger import Ledger
from tests.lab.helpers import lab, lab_exec

pytestmark = pytest.mark.lab

RECORDS = {
    "eea.test": "193.75.75.75",  # Norway (EEA)
    "us.test": "8.8.8.8",  # United States
    "v6.test": "2a00:1450:4001:80b::200e",  # Germany, AAAA only
}


def _dnsmasq(doc: dict, member: str) -> str:
    pod = next(p for p in doc["pods"] if p["name"] == member)
    node2 = next(n for n in doc["nodes"] if n["name"] == "node2")
    records = {**RECORDS, "lab.test": node2["underlay_ip"]}  # reachable, nothing on 443
    ledger = Ledger.load(doc["name"])
    assert ledger is not None
    argv = [
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
        "--bind-interfaces", f"--listen-address={pod['ip']}", "--local=/test/", "--pid-file=",
        "--user=root", *(f"--host-record={n},{ip}" for n, ip in records.items()),
    ]  # fmt: skip
    procs.spawn(ledger, pod["netns"], argv, role="test-dns")  # ended by lab down, by PID
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # ready once it answers on port 53 (TCP too)
        with netns.inside(pod["netns"]), socket.socket() as s:
            if s.connect_ex((pod["ip"], 53)) == 0:
                return pod["ip"]
        time.sleep(0.1)
    raise AssertionError("dnsmasq did not start")


def test_locality_through_a_lab_dns_server() -> None:
    with lab(
        "--name", "t-loc", "--profile", "native", "--nodes", "2", "--pods-per-node", "1"
    ) as doc:
        resolver = _dnsmasq(doc, "node2-pod1")
        names = ["eea.test", "us.test", "nx.test", "v6.test", "lab.test"]
        out = lab_exec("t-loc", "node1-pod1", sys.executable, "-m", "kubenetlab", "locality",
                       *names, "--resolver", resolver, "--timeout", "1", "-o", "json")  # fmt: skip
        assert out.returncode == 1, out.stderr  # a flagged address and an NXDOMAIN
        doc_ = json.loads(out.stdout)
        rows = {r["host"]: r for r in doc_["addresses"]}
        assert (rows["eea.test"]["address"], rows["eea.test"]["country"]) == ("193.75.75.75", "NO")
        assert rows["eea.test"]["status"] == "pass" and rows["eea.test"]["family"] == "A"
        assert (rows["us.test"]["country"], rows["us.test"]["status"]) == ("US", "flag")
        assert rows["nx.test"]["status"] == "NXDOMAIN" and rows["nx.test"]["address"] is None
        assert (rows["v6.test"]["family"], rows["v6.test"]["country"]) == ("AAAA", "DE")
        # The lab address answers (a RST from node2): a round trip; not public, so flagged.
        assert rows["lab.test"]["rtt_ms"] is not None and 0 < rows["lab.test"]["rtt_ms"] < 1000
        assert rows["lab.test"]["country"] is None and rows["lab.test"]["status"] == "flag"
        # Public addresses have no route out of the lab: no round trip, nothing sent out.
        assert rows["eea.test"]["rtt_ms"] is None and rows["us.test"]["rtt_ms"] is None
        assert doc_["database"]["built"][:2] == "20" and "GeoLite2" in doc_["database"]["source"]
        assert doc_["flagged"] == 3

        # A resolver that does not answer (an address nobody holds): exit 3 within the timeout.
        started = time.monotonic()
        out = lab_exec("t-loc", "node1-pod1", sys.executable, "-m", "kubenetlab", "locality",
                       "eea.test", "--resolver", "10.244.0.200", "--timeout", "1")  # fmt: skip
        assert out.returncode == 3
        assert out.stderr.count("\n") == 1 and "did not answer within 1 s" in out.stderr
        assert time.monotonic() - started < 8  # 1 s timeout + the CLI's start-up

