"""Read-only socket state inside a namespace (for knowing when a server is ready)."""

from __future__ import annotations

from kubenetlab.kernel import netns

TCP_LISTEN = "0A"


def listening(ns: str, port: int, udp: bool = False) -> bool:
    """Is something bound (UDP) or listening (TCP) on `port` in namespace `ns`?"""
    base = "udp" if udp else "tcp"
    rows: list[str] = []
    # /proc/thread-self/net follows this thread's namespace, which `inside` switched.
    # A dual-stack server (bound to ::) shows only in the v6 table.
    with netns.inside(ns):
        for table in (base, base + "6"):
            try:
                with open(f"/proc/thread-self/net/{table}") as f:
                    rows += f.read().splitlines()[1:]
            except FileNotFoundError:
                pass
    for row in rows:
        fields = row.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and (udp or fields[3] == TCP_LISTEN):
            return True
    return False


def time_wait(ns: str) -> int:
    """TCP sockets in TIME_WAIT in namespace `ns`: the ephemeral-port pressure a
    connection-per-transaction test leaves behind."""
    with netns.inside(ns), open("/proc/thread-self/net/tcp") as f:
        rows = f.read().splitlines()[1:]
    return sum(1 for row in rows if row.split()[3] == "06")  # TCP_TIME_WAIT
