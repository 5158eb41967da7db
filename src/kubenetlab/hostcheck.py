"""`kubenetlab host check`: what about this host sets a cluster's ceiling, read without a lab.

Read-only: /proc, /sys and `ethtool -k` on the host's default-route interface; nothing is
changed anywhere. Every reader takes the root of the tree it reads (`/` on a real host, a
directory of fake files in tests), so each verdict can be tested for pass and fail.

The kernel options are Cilium's base requirements (docs.cilium.io, "System Requirements",
"Base Requirements"), plus BTF, which kubenetlab's own eBPF programs (and Cilium's
CO-RE-built features) need. The conntrack floor is kube-proxy's: `--conntrack-max-per-core`
32768 × CPUs, at least `--conntrack-min` 131072.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubenetlab.environment import environment

CILIUM_KERNEL_OPTIONS = (
    "CONFIG_BPF", "CONFIG_BPF_SYSCALL", "CONFIG_NET_CLS_BPF", "CONFIG_BPF_JIT",
    "CONFIG_NET_CLS_ACT", "CONFIG_NET_SCH_INGRESS", "CONFIG_CRYPTO_SHA1",
    "CONFIG_CRYPTO_USER_API_HASH", "CONFIG_CGROUPS", "CONFIG_CGROUP_BPF", "CONFIG_PERF_EVENTS",
    "CONFIG_SCHEDSTATS",
)  # fmt: skip
CILIUM_MIN_KERNEL = (5, 4)  # Cilium 1.16's minimum; 1.18 asks for 5.10
CONNTRACK_PER_CORE, CONNTRACK_MIN = 32768, 131072  # kube-proxy's defaults
TUNNEL_OFFLOADS = ("tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation")
STEAL_WARN, STEAL_FAIL = 2.0, 10.0  # percent of CPU time over the window
ETCD_FSYNC_P99_MS = 10.0  # etcd's guidance (the article's threshold)


@dataclass(frozen=True)
class Check:
    item: str
    status: str  # pass | warn | fail
    value: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Host:
    """Where the checks read from, and how they wait and run tools (replaceable in tests)."""

    root: Path = Path("/")
    sleep: Callable[[float], None] = time.sleep
    run: Callable[[list[str]], str] | None = None

    def read(self, relative: str) -> str:
        return (self.root / relative).read_text()

    def tool(self, argv: list[str]) -> str:
        if self.run is not None:
            return self.run(argv)
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def _cpu_times(host: Host) -> list[int]:
    fields = host.read("proc/stat").splitlines()[0].split()
    return [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal


def cpu_steal(host: Host, window: float) -> Check:
    before = _cpu_times(host)
    host.sleep(window)
    after = _cpu_times(host)
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta)
    steal = 100.0 * delta[7] / total if total else 0.0
    status = "fail" if steal >= STEAL_FAIL else "warn" if steal >= STEAL_WARN else "pass"
    return Check(
        "cpu steal", status, f"{steal:.1f} %",
        f"time the hypervisor gave this VM's vCPUs to others, over {window:g} s (/proc/stat) "
        f"(warn ≥ {STEAL_WARN:g} %, fail ≥ {STEAL_FAIL:g} %); it lands on latency tails",
        "" if status == "pass" else "a dedicated-CPU instance type, or measure at quieter hours "
        "and interleave runs (kubenetlab compare does)",
    )  # fmt: skip


def cpu_flags(host: Host) -> list[Check]:
    flags: set[str] = set()
    for line in host.read("proc/cpuinfo").splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    wanted = (
        ("AES-NI + PCLMULQDQ", ("aes", "pclmulqdq"), "IPsec's AES-GCM (Cilium encryption.type=ipsec)"),
        ("AVX2", ("avx2",), "WireGuard's ChaCha20-Poly1305 SIMD path (Cilium encryption.type=wireguard)"),
    )  # fmt: skip
    checks = []
    for name, needed, why in wanted:
        missing = [f for f in needed if f not in flags]
        checks.append(Check(
            f"cpu flags: {name}", "warn" if missing else "pass",
            "missing " + ", ".join(missing) if missing else "present", why,
            "expose the host CPU's flags to the VM (e.g. libvirt cpu mode=host-passthrough)"
            if missing else "",
        ))  # fmt: skip
    return checks


def default_interface(host: Host) -> str | None:
    """The interface of the IPv4 default route (/proc/net/route, as `ip route` reads it)."""
    for line in host.read("proc/net/route").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return fields[0]
    return None


def uplink_mtu(host: Host, iface: str) -> Check:
    mtu = int(host.read(f"sys/class/net/{iface}/mtu").strip())
    detail = (
        f"pods get {mtu - 50} over VXLAN/Geneve, {mtu - 20} over IPIP, {mtu} with native routing"
    )
    if mtu < 1500:
        return Check(
            f"uplink MTU ({iface})", "warn", str(mtu), detail + "; below Ethernet's 1500, so "
            "defaults that assume 1500 (a pod MTU of 1450) will black-hole large packets",
            "set the CNI's MTU from this value (Cilium: MTU=0 auto-detects; Flannel, Calico: "
            f"set it to {mtu - 50} for VXLAN)",
        )  # fmt: skip
    return Check(f"uplink MTU ({iface})", "pass", str(mtu), detail)


def tunnel_offloads(host: Host, iface: str) -> Check:
    name = f"tunnel offloads ({iface})"
    if host.run is None and not shutil.which("ethtool"):
        return Check(name, "warn", "unknown", "ethtool is not installed", "apt-get install ethtool")
    try:
        text = host.tool(["ethtool", "-k", iface])
    except (OSError, subprocess.CalledProcessError) as exc:
        return Check(name, "warn", "unknown", f"ethtool -k {iface} failed: {exc}")
    features = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            features[key] = value.strip()
    off = [f for f in TUNNEL_OFFLOADS if not features.get(f, "off").startswith("on")]
    if not off:
        return Check(
            name, "pass", "on", "the NIC segments VXLAN/Geneve traffic itself (ethtool -k)"
        )
    fixed = all("[fixed]" in features.get(f, "[fixed]") for f in off)
    return Check(
        name, "warn", "off: " + ", ".join(off),
        "the kernel segments every VXLAN/Geneve super-packet in software: overlays cost more CPU "
        "per byte here than on a NIC with these offloads (ethtool -k)",
        "not available on this NIC ([fixed]): prefer native routing" if fixed
        else f"ethtool -K {iface} {' '.join(f'{f} on' for f in off)}",
    )  # fmt: skip


def kernel_config(host: Host) -> dict[str, str]:
    release = host.read("proc/sys/kernel/osrelease").strip()
    for path in (host.root / "proc/config.gz", host.root / f"boot/config-{release}"):
        if path.exists():
            raw = path.read_bytes()
            text = gzip.decompress(raw).decode() if path.suffix == ".gz" else raw.decode()
            options = {}
            for line in text.splitlines():
                key, sep, value = line.partition("=")
                if sep and key.startswith("CONFIG_"):
                    options[key] = value
            return options
    return {}


def cilium_kernel(host: Host) -> list[Check]:
    release = host.read("proc/sys/kernel/osrelease").strip()
    version = tuple(int(p) for p in release.split("-")[0].split(".")[:2])
    want = ".".join(map(str, CILIUM_MIN_KERNEL))
    checks = [Check(
        "kernel version", "pass" if version >= CILIUM_MIN_KERNEL else "fail", release,
        f"Cilium 1.16 needs ≥ {want}", "" if version >= CILIUM_MIN_KERNEL else f"a kernel ≥ {want}",
    )]  # fmt: skip
    config = kernel_config(host)
    if not config:
        checks.append(Check(
            "kernel options (Cilium)", "warn", "unknown", "no /proc/config.gz or /boot/config-*",
            "modprobe configs (CONFIG_IKCONFIG_PROC) to let the kernel say",
        ))  # fmt: skip
    else:
        missing = [o for o in CILIUM_KERNEL_OPTIONS if config.get(o) not in ("y", "m")]
        checks.append(Check(
            "kernel options (Cilium)", "fail" if missing else "pass",
            "missing " + ", ".join(missing) if missing else f"all {len(CILIUM_KERNEL_OPTIONS)}",
            "Cilium's base requirements (docs.cilium.io System Requirements)",
            "a kernel built with " + ", ".join(f"{o}=y" for o in missing) if missing else "",
        ))  # fmt: skip
    has_btf = (host.root / "sys/kernel/btf/vmlinux").exists()
    checks.append(Check(
        "BTF", "pass" if has_btf else "warn", "present" if has_btf else "missing",
        "/sys/kernel/btf/vmlinux: CO-RE eBPF programs (kubenetlab's eBPF proxy and trace)",
        "" if has_btf else "a kernel built with CONFIG_DEBUG_INFO_BTF=y",
    ))  # fmt: skip
    return checks


def conntrack(host: Host) -> Check:
    cpus = _cpu_count(host)
    floor = max(CONNTRACK_PER_CORE * cpus, CONNTRACK_MIN)
    try:
        limit = int(host.read("proc/sys/net/netfilter/nf_conntrack_max"))
        count = int(host.read("proc/sys/net/netfilter/nf_conntrack_count"))
    except FileNotFoundError:
        return Check("conntrack table", "pass", "not loaded",
                     "nf_conntrack is not loaded yet; kube-proxy loads it and sets its size")  # fmt: skip
    used = 100.0 * count / limit if limit else 100.0
    detail = (
        f"{count} of {limit} entries in use ({used:.0f} %); kube-proxy sets at least {floor} "
        f"({CONNTRACK_PER_CORE} per CPU × {cpus}, minimum {CONNTRACK_MIN})"
    )
    if used >= 80:
        return Check("conntrack table", "fail", f"{used:.0f} % full", detail + "; new flows drop",
                     f"sysctl -w net.netfilter.nf_conntrack_max={max(floor, limit * 2)}")  # fmt: skip
    if limit < floor:
        return Check("conntrack table", "warn", str(limit), detail,
                     f"sysctl -w net.netfilter.nf_conntrack_max={floor}")  # fmt: skip
    return Check("conntrack table", "pass", str(limit), detail)


def _cpu_count(host: Host) -> int:
    text = host.read("proc/cpuinfo")
    return max(1, sum(1 for line in text.splitlines() if line.startswith("processor")))


def etcd_disk(directory: str) -> Check:
    from kubenetlab.bench.etcd_disk import measure

    result = measure(directory, 4 * 1024**2, 2300, "builtin")
    p99_ms = result.latency_us["p99"] / 1000
    ok = p99_ms < ETCD_FSYNC_P99_MS
    return Check(
        f"etcd disk ({directory})", "pass" if ok else "fail", f"fdatasync p99 {p99_ms:.2f} ms",
        f"{result.writes} writes of 2300 B with fdatasync each on {result.filesystem} "
        f"(kubenetlab builtin, as etcd disk --engine builtin); etcd wants p99 < {ETCD_FSYNC_P99_MS:g} ms",
        "" if ok else "put etcd's data dir on a local NVMe/SSD that no other workload writes to",
    )  # fmt: skip


def run_checks(host: Host, window: float = 1.0, etcd_dir: str | None = None) -> list[Check]:
    checks = [cpu_steal(host, window), *cpu_flags(host)]
    iface = default_interface(host)
    if iface is None:
        checks.append(Check("uplink", "warn", "none", "no IPv4 default route: no uplink to check"))
    else:
        checks += [uplink_mtu(host, iface), tunnel_offloads(host, iface)]
    checks += [*cilium_kernel(host), conntrack(host)]
    if etcd_dir:
        checks.append(etcd_disk(etcd_dir))
    return checks


def to_dict(checks: list[Check], window: float) -> dict[str, Any]:
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "warn", "fail")}
    return {
        "schema_version": 1,
        "kind": "host-check",
        "window_s": window,
        "summary": counts,
        "checks": [asdict(c) for c in checks],
        "environment": environment(),
    }
