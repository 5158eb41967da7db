"""`kubenetlab trace` as a table: one row per interface crossing, in path order."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from kubenetlab.report.tables import stdout
from kubenetlab.trace import Trace


def print_trace(result: Trace) -> None:
    stdout.print(
        f"[bold]trace[/] {result.src} → {result.dst}: {result.answered}/{result.sent} UDP probes "
        "answered; Δ = time since the previous crossing (bpf_ktime_get_ns at tcx ingress/egress)",
        highlight=False,
    )
    for direction, hops in result.directions.items():
        table = Table(title=direction, box=None, pad_edge=False, title_justify="left")
        for col in ("#", "crossing", "bytes on wire", "Δ p50 µs", "Δ p90 µs", "Δ p99 µs"):
            table.add_column(col, justify="left" if col == "crossing" else "right")
        for i, hop in enumerate(h.to_dict() for h in hops):
            first = i == 0
            table.add_row(
                str(i), hop["hop"], str(hop["wire_bytes"]),
                *(("-",) * 3 if first else (f"{hop[k]:.2f}" for k in ("p50_us", "p90_us", "p99_us"))),
            )  # fmt: skip
        stdout.print(table)


def write_waterfall(result: Trace, directory: Path) -> list[Path]:
    """trace.json and trace.png: one panel per direction, one bar per crossing, starting
    where the previous one ended (p50), with the p90 marked."""
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
        start = 0.0
        for i, hop in enumerate(hops[1:], start=1):
            ax.barh(i, hop["p50_us"], left=start, color="tab:blue")
            ax.plot([start + hop["p90_us"]], [i], "|", color="tab:red", markersize=10)
            start += hop["p50_us"]
        ax.set_yticks(
            range(len(hops)), [f"{h['hop']} ({h['wire_bytes']} B)" for h in hops], fontsize=8
        )
        ax.invert_yaxis()
        ax.set_xlabel("µs since the probe left (p50 per hop; | = that hop's p90)")
        ax.set_title(f"{result.src} → {result.dst}: {direction}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    png = directory / "trace.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return [directory / "trace.json", png]
