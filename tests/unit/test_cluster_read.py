"""Reading a live cluster: the kubeconfig's mistakes are exit 2, an API server that cannot
be reached or does not answer is exit 3 within --timeout naming it (real sockets on
127.0.0.1; the lab tests read a real API server)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubenetlab.errors import EnvironmentProblem, UsageError
from kubenetlab.kube import cluster
from kubenetlab.kube.dataplane_config import facts_of, value


def _kubeconfig(tmp_path: Path, server: str, contexts: tuple[str, ...] = ("lab",),
                current: str | None = "lab", file: str = "kubeconfig") -> str:  # fmt: skip
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in contexts],
    }  # fmt: skip
    if current:
        doc["current-context"] = current
    path = tmp_path / file
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A 127.0.0.1 port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for s in held:
        s.close()
    listener.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_kubeconfig_mistakes_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        cluster.Cluster(str(tmp_path / "missing"))
    config = _kubeconfig(tmp_path, "http://127.0.0.1:1", contexts=("a", "b"), current="a")
    with pytest.raises(UsageError, match=r"--context 'prod' is not in .* \(contexts: a, b\)"):
        cluster.Cluster(config, "prod")
    with pytest.raises(UsageError, match="more than 0 seconds"):
        cluster.Cluster(config, timeout=0)
    no_current = _kubeconfig(tmp_path, "http://127.0.0.1:1", current=None, file="other")
    with pytest.raises(UsageError, match="no current-context: name one with --context"):
        cluster.Cluster(no_current)
    (tmp_path / "junk").write_text("just: [a, list")
    with pytest.raises(UsageError, match="not a kubeconfig"):
        cluster.Cluster(str(tmp_path / "junk"))
    assert cluster.Cluster(config, "b").context == "b"


def test_refused_connection_names_the_server(tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{_closed_port()}"
    live = cluster.Cluster(_kubeconfig(tmp_path, server), timeout=2)
    with pytest.raises(EnvironmentProblem, match=f"cannot reach the API server {server}"):
        live.connect()
    live.close()


def test_a_server_that_never_answers_ends_within_the_timeout(
    tmp_path: Path, silent_server: int
) -> None:
    server = f"http://127.0.0.1:{silent_server}"
    config = _kubeconfig(tmp_path, server)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "kubenetlab", "audit", "--kubeconfig", config, "--timeout", "1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert f"cannot reach the API server {server}" in result.stderr
    assert "within 1 s" in result.stderr and "Traceback" not in result.stderr
    assert took < 1 + 5  # the request's bound, plus Python's start-up


def test_cli_needs_one_source_for_render(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    for extra in ([], ["-f", "examples/cluster-dump.yaml", "--kubeconfig", config]):
        result = subprocess.run(
            [sys.executable, "-m", "kubenetlab", "proxy", "render", "--node", "n1", *extra],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert result.returncode == 2
        assert "needs -f FILE or --kubeconfig FILE (one of them)" in result.stderr


def test_resource_paths_and_reads_are_named_as_kubectl_names_them() -> None:
    assert cluster.SERVICES.path() == "/api/v1/services"
    assert cluster.ENDPOINT_SLICES.path() == "/apis/discovery.k8s.io/v1/endpointslices"
    assert cluster.CONFIG_MAPS.path("kube-system", "kube-proxy") == (
        "/api/v1/namespaces/kube-system/configmaps/kube-proxy"
    )
    assert cluster.Access(cluster.ENDPOINT_SLICES).describe() == (
        "list endpointslices.discovery.k8s.io (all namespaces)"
    )
    assert cluster.Access(cluster.NODES).describe() == "list nodes"
    assert cluster.Access(cluster.CONFIG_MAPS, "get", "kube-system", ("kube-proxy",)).describe() == (
        "get configmaps kube-proxy in namespace kube-system"
    )


def test_configmap_facts_name_their_source() -> None:
    kube_proxy = {
        "metadata": {"namespace": "kube-system", "name": "kube-proxy"},
        "data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
                 "kind: KubeProxyConfiguration\nmode: \"\"\nclusterCIDR: 10.244.0.0/16\n"},
    }  # fmt: skip
    facts = facts_of(kube_proxy)
    assert value(facts, "kube-proxy mode") == "iptables"  # unset is iptables on Linux
    assert "(unset: iptables)" in facts[0].source
    assert value(facts, "kube-proxy clusterCIDR") == "10.244.0.0/16"
    assert value(facts, "kube-proxy minSyncPeriod") is None  # absent, not guessed
    cilium = {"metadata": {"namespace": "kube-system", "name": "cilium-config"},
              "data": {"routing-mode": "native", "unrelated": "x"}}  # fmt: skip
    assert [f.to_dict() for f in facts_of(cilium)] == [
        {"name": "cilium routing-mode", "value": "native",
         "source": "ConfigMap kube-system/cilium-config: routing-mode"}
    ]  # fmt: skip
