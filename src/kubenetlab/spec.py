"""The lab spec: YAML (or flags) → a validated `Lab`.

    name: demo                   # lab name; namespaces are knl-<name>-…
    profile: vxlan               # routing profile: native | vxlan
    profile_options: {port: 8472}
    nodes: 2                     # a count, or a list of names / {name: …, pods: …}
    pods_per_node: 2
    underlay_cidr: 198.18.0.0/24 # inside 198.18.0.0/15, the benchmarking range (RFC 2544)
    underlay_mtu: 1500
    pod_mtu: 1450                # optional; default underlay_mtu − the profile's overhead
    pod_cidr: 10.244.0.0/16
    node_cidr_mask: 24           # kube-controller-manager --node-cidr-mask-size
    service_cidr: 10.96.0.0/12
    service_node_port_range: 30000-32767  # kube-apiserver --service-node-port-range
    proxy: iptables              # iptables | iptables-legacy | nftables | ebpf (default: iptables)
    proxy_options: {lb_mode: dsr, lb_algorithm: maglev}  # ebpf: Cilium's loadBalancer.*;
                                 # {min_sync_period: 1s}: the upstream kube-proxy's
    services:                    # backends are lab pods running a real server
      - {name: web, type: NodePort, port: 80, target_port: 8080, replicas: 2,
         external_traffic_policy: Local}
    routes: routes.yaml          # Gateway API Gateways/HTTPRoutes (a file, or a list of
                                 # objects): served by nginx in a gateway namespace
    control_plane: kubernetes    # the upstream control plane (make setup builds it); or
                                 # etcd: Services in a real etcd, per-node agents follow it
    images: {"myorg/web:*": [python3, -m, http.server]}  # image glob → host program
    etcd_data_dir: /var/lib/x    # where etcd writes (default: the lab's state dir, tmpfs)

Every check happens here, before the kernel is touched: a spec that fails leaves
nothing behind because nothing was started.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from kubenetlab import addressing, services
from kubenetlab.errors import UsageError
from kubenetlab.inputs import load_yaml, load_yaml_documents
from kubenetlab.model import Lab, Node, Pod, netns_prefix
from kubenetlab.routing import profile_class
from kubenetlab.routing.base import RoutingProfile

BENCHMARK_RANGE = IPv4Network("198.18.0.0/15")
LOOPBACK = IPv4Network("127.0.0.0/8")
LAB_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
NODE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MTU_RANGE = (576, 9216)

DEFAULTS: dict[str, Any] = {
    "name": "default",
    "profile": "vxlan",
    "profile_options": {},
    "nodes": 2,
    "pods_per_node": 2,
    "underlay_cidr": "198.18.0.0/24",
    "underlay_mtu": 1500,
    "pod_mtu": None,
    "pod_cidr": "10.244.0.0/16",
    "node_cidr_mask": 24,
    "service_cidr": "10.96.0.0/12",
    "service_node_port_range": "30000-32767",
    "proxy": None,
    "proxy_options": None,
    "services": None,
    "routes": None,
    "allow_mtu_mismatch": False,
    "control_plane": None,
    "etcd_data_dir": None,
    "images": None,
}
# Measured on a 2-vCPU VM: 100 nodes × 100 pods (10,101 namespaces, 141,005 kernel objects)
# come up in about 33 s and go down in about 7 s; more is refused before anything is built.
MAX_PODS = 10_000
MAX_NODES = 1_000


@dataclass(frozen=True)
class NodeSpec:
    name: str
    pods: int


def load_spec_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    data = load_yaml(path)
    if data is None:
        raise UsageError(f"{path}: the lab spec is empty (see examples/two-node.yaml)")
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a lab spec is a mapping of keys, not a {type(data).__name__}")
    if isinstance(data.get("routes"), str):  # a file next to the spec
        data = {**data, "routes": load_yaml_documents(path.parent / data["routes"])}
    return data


def build_lab(raw: dict[str, Any], overrides: dict[str, Any] | None = None) -> Lab:
    """Validate spec keys (and CLI overrides, which win) into a `Lab`."""
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise UsageError(
            f"unknown key {unknown[0]!r} in lab spec (allowed: {', '.join(sorted(DEFAULTS))})"
        )
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "profile" in given and given["profile"] != raw.get("profile", DEFAULTS["profile"]):
        # The file's profile_options were written for the profile the flag replaces.
        raw = {k: v for k, v in raw.items() if k != "profile_options"}
    values = {**DEFAULTS, **raw, **given}

    name = _lab_name(values["name"])
    cls = profile_class(_str(values["profile"], "profile"))
    options = values["profile_options"]
    if not isinstance(options, dict):
        raise UsageError("profile_options must be a mapping")
    options = cls.validate_options(options)
    underlay, pod_cidr, service_cidr = _cidrs(values)
    underlay_mtu = _mtu(values["underlay_mtu"], "underlay_mtu")
    pod_mtu = _pod_mtu(values["pod_mtu"], underlay_mtu, cls, values["allow_mtu_mismatch"])
    mask = _int(values["node_cidr_mask"], "node_cidr_mask")
    if not pod_cidr.prefixlen <= mask <= 30:
        raise UsageError(
            f"node_cidr_mask {mask} must be between the pod_cidr prefix "
            f"({pod_cidr.prefixlen}) and 30"
        )
    node_specs = _node_specs(values["nodes"], _count(values["pods_per_node"], "pods_per_node"))
    _check_capacity(node_specs, underlay, pod_cidr, mask)
    nodes, pods = _members(name, node_specs, underlay, pod_cidr, mask)
    pod_rows = [(p.name, p.node, str(p.ip)) for p in pods]
    port_range = node_port_range(values["service_node_port_range"])
    svcs = services.from_spec(values["services"], pod_rows, service_cidr, port_range)
    _check_external_addresses(svcs, underlay, pod_cidr, service_cidr)
    routes = values["routes"]
    if routes is not None and not isinstance(routes, list):
        raise UsageError("routes must be a file name or a list of Gateway API objects")
    routes = tuple(routes or ())
    # a Kubernetes lab runs kube-proxy as a cluster does, Services from the spec or not
    proxy = _proxy(values["proxy"], bool(svcs) or values["control_plane"] == "kubernetes")
    lab = Lab(
        name=name,
        profile=cls.name,
        profile_options=options,
        underlay_cidr=underlay,
        underlay_mtu=underlay_mtu,
        pod_mtu=pod_mtu,
        pod_cidr=pod_cidr,
        node_cidr_mask=mask,
        service_cidr=service_cidr,
        node_port_range=port_range,
        nodes=nodes,
        pods=pods,
        proxy=proxy,
        proxy_options=_proxy_options(values["proxy_options"], proxy, cls, values["control_plane"]),
        services=svcs,
        client_ip=addressing.reserved_underlay_ip(underlay, addressing.CLIENT_SLOT)
        if svcs or routes
        else None,
        routes=routes,
        gateway_ip=addressing.reserved_underlay_ip(underlay, addressing.GATEWAY_SLOT)
        if routes
        else None,
        **_control_plane(values["control_plane"], values["etcd_data_dir"]),
        images=image_map(values["images"], values["control_plane"]),
    )
    _unique_netns(lab)
    if routes:
        from kubenetlab.gateway.build import validate

        validate(lab)  # every route error is exit 2 now
    return lab


def _cidrs(values: dict[str, Any]) -> tuple[IPv4Network, IPv4Network, IPv4Network]:
    underlay = _cidr(values["underlay_cidr"], "underlay_cidr")
    if not underlay.subnet_of(BENCHMARK_RANGE):
        raise UsageError(
            f"underlay_cidr {underlay} must lie inside {BENCHMARK_RANGE} (the benchmarking "
            "range), so lab addresses can never be mistaken for real ones"
        )
    pod_cidr = _cidr(values["pod_cidr"], "pod_cidr")
    service_cidr = _cidr(values["service_cidr"], "service_cidr")
    _no_overlap({"underlay_cidr": underlay, "pod_cidr": pod_cidr, "service_cidr": service_cidr})
    return underlay, pod_cidr, service_cidr


def _pod_mtu(value: Any, underlay_mtu: int, cls: type[RoutingProfile], allow: Any) -> int:
    if not isinstance(allow, bool):
        raise UsageError(f"allow_mtu_mismatch must be true or false, not {allow!r}")
    fits = underlay_mtu - cls.encap_overhead
    if value is not None:
        pod_mtu = _mtu(value, "pod_mtu")
        if pod_mtu > fits and not allow:
            raise UsageError(
                f"pod_mtu {pod_mtu} does not fit {cls.name} over a {underlay_mtu} underlay: use "
                f"{fits} (underlay_mtu − {cls.encap_overhead}), or set allow_mtu_mismatch: true "
                "to build the mistake on purpose"
            )
        return pod_mtu
    pod_mtu = fits
    if pod_mtu < MTU_RANGE[0]:
        raise UsageError(
            f"underlay_mtu {underlay_mtu} leaves {pod_mtu} for pods after the "
            f"{cls.encap_overhead}-byte {cls.name} overhead; minimum is {MTU_RANGE[0]}"
        )
    return pod_mtu


def node_port_range(value: Any) -> tuple[int, int]:
    """`30000-32767` (or a single port), as kube-apiserver's --service-node-port-range."""
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    m = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", text)
    low, high = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, 0)
    if not m or not 1 <= low <= high <= 65535:
        raise UsageError(
            f"service_node_port_range must be LOW-HIGH within 1-65535 (like 30000-32767), not {value!r}"
        )
    return low, high


# Images are never pulled: each stands for a host program (its ENTRYPOINT). Defaults first
# in the lookup are the lab's own entries, then these.
DEFAULT_IMAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("python:*", ("python3",)),
    ("python", ("python3",)),
    ("*/python:*", ("python3",)),
)


def image_map(value: Any, control_plane: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`images: {GLOB: program or [argv]}`: what runs for a container's image (the
    virtual kubelets' map), checked now so a wrong entry is exit 2 at `lab up`."""
    import shutil

    if value is None:
        return DEFAULT_IMAGES if control_plane == "kubernetes" else ()
    if control_plane != "kubernetes":
        raise UsageError("images needs control_plane: kubernetes (they are run by its kubelets)")
    if not isinstance(value, dict):
        raise UsageError("images must be a mapping of image globs to host programs")
    out = []
    for glob, program in value.items():
        argv = [program] if isinstance(program, str) else program
        if not (isinstance(glob, str) and glob and isinstance(argv, list) and argv
                and all(isinstance(a, str) and a for a in argv)):  # fmt: skip
            raise UsageError(f"images: {glob!r} must map to a program or a list of arguments")
        if shutil.which(argv[0]) is None:
            raise UsageError(f"images: {glob!r} runs {argv[0]!r}, which is not on this host")
        out.append((glob, tuple(argv)))
    return (*out, *DEFAULT_IMAGES)


def _proxy(value: Any, has_services: bool) -> str | None:
    if value is None:
        return "iptables" if has_services else None  # kube-proxy's default mode
    from kubenetlab.proxy import proxy as proxy_named

    return proxy_named(_str(value, "proxy")).name


def _check_external_addresses(svcs: tuple[services.Service, ...], *taken: IPv4Network) -> None:
    """externalIPs and LoadBalancer IPs: lab addresses (inside the benchmarking range) that
    the client routes to a node, so none may fall inside a subnet the lab already uses."""
    for svc in svcs:
        for addr in svc.external_addresses:
            ip = IPv4Network(f"{addr}/32")
            if not ip.subnet_of(BENCHMARK_RANGE):
                raise UsageError(
                    f"service {svc.name}: {addr} must lie inside {BENCHMARK_RANGE} (the "
                    "benchmarking range), like every lab address"
                )
            inside = next((str(n) for n in taken if ip.subnet_of(n)), None)
            if inside:
                raise UsageError(f"service {svc.name}: {addr} lies inside {inside}, already used")


def _control_plane(value: Any, data_dir: Any) -> dict[str, Any]:
    """`control_plane: kubernetes` runs the upstream control plane; `etcd` keeps the
    Services in a real etcd that node agents watch."""
    if value is None:
        if data_dir is not None:
            raise UsageError("etcd_data_dir needs control_plane: kubernetes or etcd")
        return {}
    if value not in ("kubernetes", "etcd"):
        raise UsageError(f"control_plane must be kubernetes or etcd, not {value!r}")
    if data_dir is not None:
        path = Path(_str(data_dir, "etcd_data_dir"))
        if not path.is_absolute() or not path.is_dir():
            raise UsageError(f"etcd_data_dir {data_dir!r} must be an existing absolute directory")
    return {"control_plane": value, "etcd_data_dir": str(data_dir) if data_dir else None}


def _proxy_options(
    value: Any, proxy: str | None, cls: type[RoutingProfile], control_plane: Any = None
) -> dict[str, str]:
    """Cilium's loadBalancer.mode and .algorithm for the eBPF proxy; kube-proxy's
    minSyncPeriod for the upstream kube-proxy (iptables, nftables with kubernetes)."""
    from kubenetlab.controlplane.kubeproxy import MODES, min_sync_period
    from kubenetlab.proxy.ebpf import LB_ALGORITHMS, LB_MODES

    if value is None or value == {}:
        return {}
    if not isinstance(value, dict):
        raise UsageError("proxy_options must be a mapping (lb_mode, lb_algorithm, min_sync_period)")
    if proxy == "ebpf":
        allowed: dict[str, tuple[str, ...] | None] = {
            "lb_mode": LB_MODES,
            "lb_algorithm": LB_ALGORITHMS,
        }
        if control_plane == "kubernetes":  # its API agents coalesce as kube-proxy does
            allowed["min_sync_period"] = None
    elif proxy in MODES and control_plane == "kubernetes":
        allowed = {"min_sync_period": None}
    else:
        raise UsageError(
            "proxy_options apply to proxy ebpf (lb_mode, lb_algorithm) or to the upstream "
            f"kube-proxy of control_plane: kubernetes (min_sync_period), not {proxy or 'none'}"
        )
    out = {}
    for key, choice in value.items():
        if key not in allowed:
            raise UsageError(
                f"unknown key {key!r} in proxy_options of proxy {proxy} "
                f"(allowed: {', '.join(allowed)})"
            )
        choices = allowed[key]
        if choices is None:
            out[key] = min_sync_period(choice)
            continue
        if choice not in choices:
            raise UsageError(
                f"proxy_options.{key} must be one of {', '.join(choices)}, not {choice!r}"
            )
        out[key] = str(choice)
    if out.get("lb_mode", "snat") != "snat" and cls.encap_overhead:
        raise UsageError(
            f"lb_mode {out['lb_mode']} carries the service in an IPv4 option, which Cilium "
            f"supports with native routing only: use profile native or bgp, not {cls.name}"
        )
    return out


def _members(
    name: str,
    node_specs: list[NodeSpec],
    underlay: IPv4Network,
    pod_cidr: IPv4Network,
    mask: int,
) -> tuple[tuple[Node, ...], tuple[Pod, ...]]:
    """Nodes with their underlay IPs and pod CIDR blocks, and each node's pods."""
    prefix = netns_prefix(name)
    nodes: list[Node] = []
    pods: list[Pod] = []
    for index, spec in enumerate(node_specs, start=1):
        block = addressing.node_pod_cidr(pod_cidr, mask, index)
        underlay_ip = addressing.underlay_ip(underlay, index)
        nodes.append(Node(spec.name, index, underlay_ip, block, f"{prefix}{spec.name}"))
        for j in range(1, spec.pods + 1):
            pod_name = f"{spec.name}-pod{j}"
            ip = addressing.pod_ip(block, j)
            pods.append(Pod(pod_name, spec.name, j, ip, f"{prefix}{pod_name}"))
    return tuple(nodes), tuple(pods)


def _lab_name(value: Any) -> str:
    name = _str(value, "name")
    if not LAB_NAME.match(name):
        raise UsageError(
            f"lab name {name!r} must be 1-32 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError(f"{key} must be a non-empty string, not {value!r}")
    return value


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{key} must be an integer, not {value!r}")
    return value


def _count(value: Any, key: str) -> int:
    n = _int(value, key)
    if n < 0:
        raise UsageError(f"{key} must not be negative, not {n}")
    return n


def _mtu(value: Any, key: str) -> int:
    mtu = _int(value, key)
    low, high = MTU_RANGE
    if not low <= mtu <= high:
        raise UsageError(f"{key} {mtu} out of range {low}-{high}")
    return mtu


def _cidr(value: Any, key: str) -> IPv4Network:
    if not isinstance(value, str):
        raise UsageError(f"{key} must be an IPv4 CIDR such as 10.244.0.0/16, not {value!r}")
    try:
        cidr = IPv4Network(value, strict=True)
    except ValueError as exc:
        raise UsageError(f"{key} {value!r} is not an IPv4 CIDR: {exc}") from None
    for bad, what in (
        (cidr.overlaps(LOOPBACK), "loopback"),
        (cidr.is_link_local, "link-local"),
        (cidr.is_multicast, "multicast"),
        (cidr.is_reserved, "reserved (240.0.0.0/4)"),
        (cidr.is_unspecified or cidr.prefixlen == 0, "unspecified"),
    ):
        if bad:
            raise UsageError(f"{key} {cidr} is {what}: pods and Services need unicast addresses")
    return cidr


def _no_overlap(cidrs: dict[str, IPv4Network]) -> None:
    items = list(cidrs.items())
    for i, (key_a, a) in enumerate(items):
        for key_b, b in items[i + 1 :]:
            if a.overlaps(b):
                raise UsageError(f"{key_a} {a} overlaps {key_b} {b}")


def _node_specs(value: Any, pods_per_node: int) -> list[NodeSpec]:
    """Capacity is checked from the counts, before any list is built."""
    if pods_per_node > MAX_PODS:
        raise _too_many(f"pods_per_node {pods_per_node}")
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise UsageError(f"a lab needs at least one node, not {value}")
        if value > MAX_NODES:
            raise _too_many(f"{value} nodes")
        if value * pods_per_node > MAX_PODS:
            raise _too_many(f"{value} nodes × {pods_per_node} pods")
        return [NodeSpec(f"node{i}", pods_per_node) for i in range(1, value + 1)]
    if not isinstance(value, list):
        raise UsageError(f"nodes must be a count or a list of nodes, not {value!r}")
    if not value:
        raise UsageError("a lab needs at least one node, the nodes list is empty")
    specs: list[NodeSpec] = []
    for item in value:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise UsageError(f"a node is a name or a mapping with name and pods, not {item!r}")
        extra = sorted(set(item) - {"name", "pods"})
        if extra:
            raise UsageError(f"unknown key {extra[0]!r} in node (allowed: name, pods)")
        name = _str(item.get("name"), "node name")
        if not NODE_NAME.match(name):
            raise UsageError(
                f"node name {name!r} must be lowercase letters, digits or '-' (a DNS label)"
            )
        specs.append(NodeSpec(name, _count(item.get("pods", pods_per_node), f"{name}: pods")))
    if len(specs) > MAX_NODES or sum(spec.pods for spec in specs) > MAX_PODS:
        raise _too_many(f"{len(specs)} nodes with {sum(spec.pods for spec in specs)} pods")
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise UsageError(f"duplicate node name {spec.name!r}")
        seen.add(spec.name)
    return specs


def _too_many(what: str) -> UsageError:
    return UsageError(
        f"{what}: more than one host holds; the limit is {MAX_NODES:,} nodes and {MAX_PODS:,} "
        "pods (100 × 100 measured: up in ~33 s, down in ~7 s on 2 vCPUs)"
    )


def _check_capacity(
    nodes: list[NodeSpec], underlay: IPv4Network, pod_cidr: IPv4Network, mask: int
) -> None:
    if len(nodes) > addressing.max_nodes(underlay):
        raise UsageError(
            f"{len(nodes)} nodes do not fit underlay_cidr {underlay} "
            f"(room for {addressing.max_nodes(underlay)})"
        )
    blocks = addressing.max_node_blocks(pod_cidr, mask)
    if len(nodes) > blocks:
        raise UsageError(
            f"{len(nodes)} nodes need {len(nodes)} /{mask} blocks; pod_cidr {pod_cidr} has {blocks}"
        )
    room = addressing.pods_per_block(mask)
    for spec in nodes:
        if spec.pods > room:
            raise UsageError(
                f"node {spec.name}: {spec.pods} pods do not fit a /{mask} pod CIDR "
                f"(room for {room}); lower pods_per_node or node_cidr_mask"
            )


def _unique_netns(lab: Lab) -> None:
    seen: set[str] = set()
    for name in lab.all_netns:
        if name in seen:
            raise UsageError(f"two lab members would share the namespace {name!r}; rename a node")
        seen.add(name)
