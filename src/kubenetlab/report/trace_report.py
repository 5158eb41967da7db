"""`kubenetlab trace` as a table: one row per interface crossing, in path order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from kubenetlab.report.tables import stdout
from kubenetlab.trace import Trace


def print_trace(result: Trace) -> None:
    documents = result.hop_documents()
    summary = result.summary(documents)
    kinds = {"udp": "UDP probes", "rr": "TCP messages (one connection)", "crr": "TCP connections"}
    stdout.print(
        f"[bold]trace[/] {result.src} → {result.dst}: {result.answered}/{result.sent} "
        f"{kinds[result.test]} answered; Δ = time since the previous crossing "
        "(bpf_ktime_get_ns at tcx ingress/egress)",
        highlight=False,
    )
    for direction, hops in documents.items():
        table = Table(title=direction, box=None, pad_edge=False, title_justify="left")
        for col in ("#", "crossing", "what happens on the way", "bytes", "Δ p50 µs", "Δ p90 µs",
                    "Δ p99 µs", "probe's addresses here"):  # fmt: skip
            table.add_column(
                col, justify="right" if col.startswith(("Δ", "bytes", "#")) else "left"
            )
        previous = None
        for i, hop in enumerate(hops):
            flow = hop["flow"] if hop["flow"] != previous else "〃"
            previous = hop["flow"]
            table.add_row(
                str(i), hop["hop"], hop["what"], str(hop["wire_bytes"]),
                *(("-",) * 3 if i == 0 else (f"{hop[k]:.2f}" for k in ("p50_us", "p90_us", "p99_us"))),
                flow or "",
            )  # fmt: skip
        stdout.print(table)
    paths = ", ".join(f"{d} {v:.1f} µs" for d, v in summary["path_p50_us"].items())
    stdout.print(
        f"sum of hop p50s: {paths}; round trip measured by the client: p50 "
        f"{summary['rtt_us']['p50']:.1f} µs, p99 {summary['rtt_us']['p99']:.1f} µs",
        highlight=False,
    )


def draw_waterfall(ax: Any, hops: list[dict[str, Any]], title: str) -> None:
    """One bar per crossing at its p50, starting where the previous one ended; p90 marked."""
    start = 0.0
    for i, hop in enumerate(hops[1:], start=1):
        ax.barh(i, hop["p50_us"], left=start, color="tab:blue")
        ax.plot([start + hop["p90_us"]], [i], "|", color="tab:red", markersize=10)
        start += hop["p50_us"]
    ax.set_yticks(range(len(hops)), [f"{h['hop']} ({h['wire_bytes']} B)" for h in hops], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("µs since the probe left (p50 per hop; | = that hop's p90)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def write_waterfall(result: Trace, directory: Path) -> list[Path]:
    """trace.json and trace.png: one panel per direction."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    doc = result.to_dict()
    (directory / "trace.json").write_text(json.dumps(doc, indent=2) + "\n")
    panels = list(doc["directions"].items())
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 0.45 * sum(len(h) for _, h in panels) + 2))
    for ax, (direction, hops) in zip(axes if len(panels) > 1 else [axes], panels, strict=True):
        draw_waterfall(ax, hops, f"{result.src} → {result.dst}: {direction}")
    fig.tight_layout()
    png = directory / "trace.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return [directory / "trace.json", png]


def write_profile_waterfalls(traces: dict[str, dict[str, Any]], path: Path) -> Path:
    """compare --trace: one panel per profile (the request direction), on one x scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (p, t["directions"]["request"]) for p, t in traces.items() if t["directions"].get("request")
    ]
    height = 0.4 * sum(len(h) for _, h in panels) + 1.2 * len(panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, height), sharex=True, squeeze=False)
    for ax, (profile, hops) in zip(axes[:, 0], panels, strict=True):
        total = sum(h["p50_us"] for h in hops[1:])
        draw_waterfall(ax, hops, f"{profile}: pod → pod, one way, {total:.1f} µs (sum of hop p50s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
