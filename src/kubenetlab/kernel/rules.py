"""Load rendered rule text into a namespace: iptables-restore (nft or legacy) or nft -f."""

from __future__ import annotations

import shutil
import subprocess
import time

from kubenetlab.errors import KnlError
from kubenetlab.kernel import netns, procs
from kubenetlab.kernel.preflight import missing_kernel_options

RESTORE = {"nft": "iptables-nft-restore", "legacy": "iptables-legacy-restore"}
EMPTY_TABLES = (
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    ":POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
)


# nft -f of kube-proxy's nftables layout grows quadratically (about 5 minutes at 10,000
# Services × 3 endpoints here); give it room, but not forever.
LOAD_TIMEOUT_S = 1200


def _run(ns: str, argv: list[str], text: str) -> float:
    started = time.perf_counter()
    try:
        result = procs.run_in(
            ns, argv, input=text, capture_output=True, text=True, timeout=LOAD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise KnlError(
            f"{argv[0]} in {ns} took longer than {LOAD_TIMEOUT_S} s and was stopped"
        ) from None
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise KnlError(f"{argv[0]} in {ns} failed: {detail[0] if detail else result.returncode}")
    return elapsed


def localhost_nodeports(ns: str, nfacct_counters: list[str]) -> None:
    """kube-proxy's setup for localhost NodePorts: route_localnet on, so 127.0.0.0/8 can be
    DNATed, and its nfacct counters (an existing one is fine)."""
    netns.write_sysctl(ns, "net.ipv4.conf.all.route_localnet", "1")
    for name in nfacct_counters:
        procs.run_in(ns, ["nfacct", "add", name], capture_output=True)


def nfacct_available() -> bool:
    """Can a lab node count with nfacct: the kernel's xt_nfacct and the nfacct tool."""
    return shutil.which("nfacct") is not None and not missing_kernel_options(
        ["CONFIG_NETFILTER_XT_MATCH_NFACCT"]
    )


def iptables_restore(ns: str, text: str, backend: str) -> float:
    """Replace the filter and nat tables of `ns` in one transaction; seconds taken."""
    return _run(ns, [RESTORE[backend], "-w"], text)


def iptables_clear(ns: str, backend: str) -> float:
    return _run(ns, [RESTORE[backend], "-w"], EMPTY_TABLES)


def nft_apply(ns: str, script: str) -> float:
    """Apply an nft script atomically in `ns`; seconds taken."""
    return _run(ns, ["nft", "-f", "-"], script)
