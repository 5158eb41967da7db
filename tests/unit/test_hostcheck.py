"""host check: against this machine (plausible values), and against fake /proc and /sys
trees for each pass and fail case."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path

import pytest

from kubenetlab import hostcheck
from kubenetlab.cli import main

STAT = "cpu  {user} 0 {system} {idle} 0 0 0 {steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
ROUTE = (
    "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
    "eth9\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\n"
)


def fake_host(
    tmp_path: Path,
    *,
    mtu: int = 1500,
    flags: str = "fpu aes pclmulqdq avx2",
    options: tuple[str, ...] = hostcheck.CILIUM_KERNEL_OPTIONS,
    btf: bool = True,
    conntrack: tuple[int, int] | None = (262144, 10),
    release: str = "6.8.0-45",
    steal: tuple[int, int] = (0, 0),
    ethtool: str = "",
) -> hostcheck.Host:
    """A /proc and /sys tree; `steal` is the steal ticks of the two /proc/stat samples,
    out of 1000 ticks that pass between them."""
    files = {
        "proc/stat": STAT.format(user=100, system=100, idle=800, steal=steal[0]),
        "proc/cpuinfo": "".join(f"processor\t: {i}\nflags\t\t: {flags}\n\n" for i in range(4)),
        "proc/net/route": ROUTE,
        "proc/sys/kernel/osrelease": release + "\n",
        "sys/class/net/eth9/mtu": f"{mtu}\n",
    }
    if conntrack:
        files["proc/sys/net/netfilter/nf_conntrack_max"] = f"{conntrack[0]}\n"
        files["proc/sys/net/netfilter/nf_conntrack_count"] = f"{conntrack[1]}\n"
    if btf:
        files["sys/kernel/btf/vmlinux"] = "BTF"
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    config = "".join(f"{o}=y\n" for o in options) + "# CONFIG_FOO is not set\n"
    (tmp_path / "proc/config.gz").write_bytes(gzip.compress(config.encode()))

    def sleep(_seconds: float) -> None:  # the second sample: 1000 more ticks
        busy = 1000 - steal[1]
        (tmp_path / "proc/stat").write_text(STAT.format(
            user=100 + busy // 2, system=100, idle=800 + busy - busy // 2,
            steal=steal[0] + steal[1]))  # fmt: skip

    return hostcheck.Host(tmp_path, sleep, lambda argv: ethtool)


def by_item(checks: list[hostcheck.Check]) -> dict[str, hostcheck.Check]:
    return {c.item.split(" (")[0]: c for c in checks}


OFFLOADS_ON = "Features for eth9:\ntx-udp_tnl-segmentation: on\ntx-udp_tnl-csum-segmentation: on\n"
OFFLOADS_FIXED = (
    "Features for eth9:\ntx-udp_tnl-segmentation: off [fixed]\n"
    "tx-udp_tnl-csum-segmentation: off [fixed]\n"
)


def test_a_good_host_passes_everything(tmp_path: Path) -> None:
    checks = hostcheck.run_checks(fake_host(tmp_path, ethtool=OFFLOADS_ON), window=1)
    assert {c.item: c.status for c in checks if c.status != "pass"} == {}
    items = by_item(checks)
    assert items["cpu steal"].value == "0.0 %"
    assert items["uplink MTU"].item == "uplink MTU (eth9)" and items["uplink MTU"].value == "1500"
    assert items["kernel options"].value == f"all {len(hostcheck.CILIUM_KERNEL_OPTIONS)}"
    assert "32768 per CPU × 4" in items["conntrack table"].detail


def test_each_bad_reading_fails_or_warns_with_its_fix(tmp_path: Path) -> None:
    host = fake_host(
        tmp_path, mtu=1400, flags="fpu sse2", options=("CONFIG_BPF", "CONFIG_BPF_SYSCALL"),
        btf=False, conntrack=(65536, 60000), release="4.19.0-27", steal=(50, 150),
        ethtool=OFFLOADS_FIXED,
    )  # fmt: skip
    items = by_item(hostcheck.run_checks(host, window=1))
    assert (items["cpu steal"].status, items["cpu steal"].value) == ("fail", "15.0 %")
    assert items["cpu flags: AES-NI + PCLMULQDQ"].value == "missing aes, pclmulqdq"
    assert items["cpu flags: AVX2"].status == "warn"
    assert items["uplink MTU"].status == "warn" and "1350" in items["uplink MTU"].fix
    assert items["tunnel offloads"].status == "warn" and "[fixed]" in items["tunnel offloads"].fix
    assert items["kernel version"].status == "fail" and items["kernel version"].fix
    assert items["kernel options"].status == "fail"
    assert "CONFIG_NET_CLS_BPF=y" in items["kernel options"].fix
    assert items["BTF"].status == "warn"
    assert items["conntrack table"].status == "fail"  # 60000 of 65536: 92 % full
    assert "nf_conntrack_max=" in items["conntrack table"].fix


def test_small_conntrack_table_and_offloads_that_can_be_switched_on(tmp_path: Path) -> None:
    ethtool = "tx-udp_tnl-segmentation: off\ntx-udp_tnl-csum-segmentation: on\n"
    items = by_item(
        hostcheck.run_checks(
            fake_host(tmp_path, conntrack=(65536, 5), steal=(0, 40), ethtool=ethtool), window=1
        )
    )
    assert items["conntrack table"].status == "warn"
    assert items["conntrack table"].fix == "sysctl -w net.netfilter.nf_conntrack_max=131072"
    assert items["tunnel offloads"].fix == "ethtool -K eth9 tx-udp_tnl-segmentation on"
    assert (items["cpu steal"].status, items["cpu steal"].value) == ("warn", "4.0 %")


def test_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["host", "check", "--window", "0.3", "-o", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == (1 if doc["summary"]["fail"] else 0)
    items = {c["item"].split(" (")[0]: c for c in doc["checks"]}
    steal = float(items["cpu steal"]["value"].rstrip(" %"))
    assert 0.0 <= steal <= 100.0
    assert (
        items["kernel version"]["value"] == Path("/proc/sys/kernel/osrelease").read_text().strip()
    )
    if "uplink MTU" not in items:  # a host without an IPv4 default route
        assert items["uplink"]["value"] == "none"
        return
    uplink = items["uplink MTU"]
    iface = re.search(r"\((.+)\)", uplink["item"]).group(1)
    link = subprocess.run(["ip", "-o", "link", "show", iface], capture_output=True, text=True)
    assert f"mtu {uplink['value']} " in link.stdout


def test_bad_window_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["host", "check", "--window", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
