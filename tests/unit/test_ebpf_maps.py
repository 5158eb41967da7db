"""The eBPF proxy's desired state, without a kernel: map entries, their layout (the C
structs in bpf/lb.bpf.c), the text `proxy render --proxy ebpf` prints, the deltas a
sync writes, and Maglev's tables."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from kubenetlab.proxy import ebpf, maglev
from kubenetlab.services import Endpoint, Service, ServicePort

SOURCE = Path("src/kubenetlab/bpf/lb.bpf.c").read_text()


def _svc(name: str, ip: str, eps: list[tuple[str, str]], **kw: object) -> Service:
    node_port = kw.pop("node_port", None)
    port = ServicePort("http", 80, 8080, "TCP", node_port)  # type: ignore[arg-type]
    return Service(
        "default", name, ip, (port,),
        endpoints=tuple(Endpoint(e, n) for e, n in eps), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


WEB = _svc("web", "10.96.0.10", [("10.244.0.2", "node1"), ("10.244.1.2", "node2")])
SHOP = _svc(
    "shop", "10.96.0.20", [("10.244.1.3", "node2")], type="NodePort", node_port=30080,
    external_traffic_policy="Local",
)  # fmt: skip


def test_layouts_match_the_c_structs() -> None:
    # struct lb4_key: be32 + be16 + u16 slot + u8 proto + u8 scope + 2 pad = 12 bytes.
    assert ebpf.KEY.size == 12 and ebpf.ENTRY.size == 16 and ebpf.CONFIG.size == 8
    assert re.search(r"MAGLEV_M (\d+)", SOURCE).group(1) == str(maglev.TABLE_SIZE)  # type: ignore[union-attr]
    key = ebpf.LbKey("10.96.0.10", 80, 6, 0, 2).pack()
    assert key == bytes([10, 96, 0, 10, 0, 80, 2, 0, 6, 0, 0, 0])  # address, port: network order
    for name, value in (("SVC_F_LOCAL", 1), ("SVC_F_MAGLEV", 2), ("BE_F_LOCAL", 1)):
        assert re.search(rf"#define {name} (\d+)", SOURCE).group(1) == str(value)  # type: ignore[union-attr]


def test_clusterip_and_nodeport_scopes() -> None:
    maps = ebpf.lb_maps([WEB, SHOP], "node1", ["198.18.0.1"], "snat", "random")
    e = maps.entries
    assert e[ebpf.LbKey("10.96.0.10", 80, 6, 0, 0)].count == 2
    assert e[ebpf.LbKey("10.96.0.10", 80, 6, 0, 1)].flags == ebpf.BE_F_LOCAL  # on node1
    assert e[ebpf.LbKey("10.96.0.10", 80, 6, 0, 2)].flags == 0
    # Local NodePort on node1: every backend for socket LB (scope all), none north-south.
    assert e[ebpf.LbKey("198.18.0.1", 30080, 6, 0, 0)].count == 1
    local = e[ebpf.LbKey("198.18.0.1", 30080, 6, 1, 0)]
    assert local.count == 0 and local.flags & ebpf.SVC_F_LOCAL
    on_node2 = ebpf.lb_maps([SHOP], "node2", ["198.18.0.2"], "snat", "random")
    assert on_node2.entries[ebpf.LbKey("198.18.0.2", 30080, 6, 1, 0)].count == 1


def test_render_text() -> None:
    text = ebpf.render(ebpf.lb_maps([WEB, SHOP], "node1", ["198.18.0.1"], "dsr", "random"), "node1")
    assert "lb4_config mode=dsr node_ip=198.18.0.1" in text
    assert "lb4_services 10.96.0.10:80/TCP scope=all slot=1 backend=10.244.0.2:8080 local" in text
    assert re.search(r"lb4_services 198.18.0.1:30080/TCP scope=local slot=0 count=0 "
                     r"flags=local id=0x[0-9a-f]{8} # default/shop:http", text)  # fmt: skip


def test_an_endpoint_change_touches_only_its_service() -> None:
    before = ebpf.lb_maps([WEB, SHOP], "node1", ["198.18.0.1"], "snat", "random")
    web1 = _svc("web", "10.96.0.10", [("10.244.1.2", "node2")])
    after = ebpf.lb_maps([web1, SHOP], "node1", ["198.18.0.1"], "snat", "random")
    change = ebpf.delta(before, after)
    # slot 1 rewritten, the count updated, slot 2 removed; shop untouched; IDs stable.
    assert (len(change.slots), len(change.services), len(change.removed)) == (1, 1, 1)
    shop = [(k, v) for k, v in before.entries.items() if k.address != "10.96.0.10"]
    assert all(after.entries[k] == v for k, v in shop)
    assert ebpf.delta(after, after).size == 0


def test_maglev_spreads_evenly_and_moves_little() -> None:
    names = [f"10.244.{i}.2:8080" for i in range(5)]
    table = maglev.table(names)
    assert len(table) == maglev.TABLE_SIZE
    counts = Counter(table).values()
    assert max(counts) - min(counts) <= 1  # each backend holds M/n ± 1 slots
    fewer = maglev.table(names[:4])
    moved = sum(1 for a, b in zip(table, fewer, strict=True) if a != 4 and a != b)
    assert moved / len(table) < 0.02  # survivors keep (nearly) all their slots
    maps = ebpf.lb_maps([SHOP], "node2", ["198.18.0.2"], "snat", "maglev")
    [(svc_id, slots)] = maps.maglev.items()
    assert set(slots) == {1} and maps.names[svc_id] == "default/shop:http"


def test_dsr_needs_native_routing() -> None:
    from kubenetlab.errors import UsageError
    from kubenetlab.spec import build_lab

    with pytest.raises(UsageError, match="native routing only"):
        build_lab({"profile": "vxlan", "proxy": "ebpf", "proxy_options": {"lb_mode": "dsr"}})
    with pytest.raises(UsageError, match="proxy_options apply to proxy ebpf"):
        build_lab({"profile": "native", "proxy": "iptables", "proxy_options": {"lb_mode": "dsr"}})
    lab = build_lab({"profile": "native", "proxy": "ebpf", "proxy_options": {"lb_mode": "dsr"}})
    assert lab.proxy_options == {"lb_mode": "dsr"}


def test_proxy_render_ebpf_from_a_dump(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kubenetlab", "proxy", "render", "--proxy", "ebpf",
         "-f", "examples/cluster-dump.yaml", "--node", "worker-1", "--node-ip", "192.0.2.11"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# eBPF service maps of node worker-1: lb-mode snat")
    assert "lb4_services" in out.stdout
