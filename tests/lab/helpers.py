"""Shared helpers for lab tests: bring labs up through the real CLI, move real bytes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubenetlab.controlplane import upstream
from kubenetlab.kernel import procs
from kubenetlab.kernel.ledger import Ledger
from kubenetlab.live import attach
from tests.lab.conftest import hygiene, run_cli

# One connection: read until EOF, answer "<sha256 of what arrived> <peer ip>".
ECHO_SERVER = """
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
c, peer = s.accept(); h = hashlib.sha256()
while chunk := c.recv(65536):
    h.update(chunk)
c.sendall(f"{h.hexdigest()} {peer[0]}".encode()); c.close()
"""

ECHO_CLIENT = """
import hashlib, os, socket, sys, time
payload = os.urandom(int(sys.argv[3]))
deadline = time.monotonic() + 10
while True:
    try:
        c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5); break
    except OSError:
        if time.monotonic() > deadline: raise
        time.sleep(0.05)
c.sendall(payload); c.shutdown(socket.SHUT_WR)
reply = b""
while chunk := c.recv(4096):
    reply += chunk
digest, peer = reply.decode().split()
print(hashlib.sha256(payload).hexdigest() == digest, peer)
"""


def up(*args: str) -> dict[str, Any]:
    result = run_cli("lab", "up", *args)
    assert result.returncode == 0, result.stderr
    name = args[args.index("--name") + 1]
    return status(name)


def status(name: str) -> dict[str, Any]:
    result = run_cli("lab", "status", name, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@contextmanager
def lab(*args: str) -> Iterator[dict[str, Any]]:
    name = args[args.index("--name") + 1]
    doc = up(*args)
    try:
        yield doc
    finally:
        down = run_cli("lab", "down", name)
        assert down.returncode == 0, down.stderr


@contextmanager
def shared_lab(*args: str) -> Iterator[dict[str, Any]]:
    """One lab for a whole module's tests (module-scoped fixture; the module sets
    SHARED_LAB = True): checked for leftovers before it is built and after it is removed."""
    with hygiene(), lab(*args) as doc:
        yield doc


def lab_exec(
    name: str, member: str, *cmd: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """CMD in a lab member's namespace, as `lab exec` runs it (its socket-LB cgroup
    included), without a Python start-up per call: the suite makes hundreds of these.
    Tests of the `lab exec` command itself use lab_exec_cli."""
    return procs.run_in(
        attach(name).netns(member), list(cmd), timeout=timeout, capture_output=True, text=True
    )


def lab_exec_cli(
    name: str, member: str, *cmd: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run_cli("lab", "exec", name, member, "--", *cmd, timeout=timeout)


def tcp_transfer(doc: dict[str, Any], client: str, server: str, size: int = 1 << 20) -> str:
    """Send `size` random bytes client → server over TCP; return the peer IP the server saw."""
    pods = {p["name"]: p for p in doc["pods"]}
    ledger = Ledger.load(doc["name"])
    assert ledger is not None
    procs.spawn(
        ledger, pods[server]["netns"], [sys.executable, "-c", ECHO_SERVER, "7000"], role="test-echo"
    )
    result = lab_exec(
        doc["name"],
        client,
        sys.executable,
        "-c",
        ECHO_CLIENT,
        pods[server]["ip"],
        "7000",
        str(size),
    )
    assert result.returncode == 0, result.stderr
    intact, peer = result.stdout.split()
    assert intact == "True", "bytes arrived corrupted"
    return peer


def link_stats(name: str, member: str, ifname: str) -> dict[str, int]:
    result = lab_exec(name, member, "ip", "-j", "-s", "link", "show", "dev", ifname)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]["stats64"]["tx"]


def kubectl(
    kubeconfig: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(upstream.program("kubectl")), "--kubeconfig", kubeconfig, *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def kubectl_json(kubeconfig: str, *args: str) -> dict:
    out = kubectl(kubeconfig, *args, "-o", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def kubeconfig_of(name: str) -> str:
    out = run_cli("lab", "kubeconfig", name)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# Connect, ask "?", print what the backend saw: "<pod> <client-ip>:<port>", or the error name.
ASK = """
import json, socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = []
for _ in range(n):
    try:
        s = socket.create_connection((host, port), timeout=float(sys.argv[4]))
        s.sendall(b"?")
        out.append(s.recv(200).decode().split())
        s.close()
    except OSError as exc:
        out.append([type(exc).__name__])
print(json.dumps(out))
"""

HEALTH = """
import json, sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/healthz", timeout=3)
    status, headers, body = r.status, dict(r.headers), r.read()
except urllib.error.HTTPError as e:
    status, headers, body = e.code, dict(e.headers), e.read()
print(json.dumps({"status": status, "headers": headers, "body": json.loads(body)}))
"""


def ask(
    name: str, member: str, ip: str, port: int, n: int = 1, timeout: float = 2.0
) -> list[list[str]]:
    result = lab_exec(
        name, member, sys.executable, "-c", ASK, ip, str(port), str(n), str(timeout), timeout=600
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def web_slice(doc: dict[str, Any], pods: list[str]) -> dict[str, Any]:
    """examples/services.yaml's `web` EndpointSlice listing `pods`, as a user applies it."""
    ips = {p["name"]: (p["ip"], p["node"]) for p in doc["pods"]}
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-knl", "namespace": "default", "labels": {
            "kubernetes.io/service-name": "web",
            "endpointslice.kubernetes.io/managed-by": "kubenetlab"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ips[p][0]], "nodeName": ips[p][1],
                       "conditions": {"ready": True}} for p in pods],
    }  # fmt: skip


def kubectl_apply(kubeconfig: str, tmp_path: Path, obj: dict[str, Any]) -> None:
    path = tmp_path / "applied.json"
    path.write_text(json.dumps(obj))
    out = kubectl(kubeconfig, "apply", "-f", str(path))
    assert out.returncode == 0, out.stderr


def lands_only_on(name: str, ip: str, pod: str, seconds: float = 15) -> None:
    """Until 20 connections in a row from node2-pod2 to ip:80 reach `pod`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if {who for who, *_ in ask(name, "node2-pod2", ip, 80, n=20)} == {pod}:
            return
        time.sleep(0.2)
    raise AssertionError(f"20 connections to {ip} did not all reach {pod} in {seconds} s")
