"""Plots of run statistics (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

from .result import Result


def plot_banks(result: Result, output: "str | Path") -> Path:
    """Bar chart of TCDM accesses and conflicts per bank; returns the image path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    banks = [b["bank"] for b in result.banks]
    accesses = [b["accesses"] for b in result.banks]
    conflicts = [b["conflicts"] for b in result.banks]
    fig, ax = plt.subplots(figsize=(max(6, len(banks) * 0.45), 4))
    width = 0.4
    ax.bar([b - width / 2 for b in banks], accesses, width, label="granted accesses")
    ax.bar([b + width / 2 for b in banks], conflicts, width, label="conflict cycles")
    ax.set_xlabel("TCDM bank")
    ax.set_ylabel("count")
    ax.set_xticks(banks)
    ax.set_title(f"TCDM banks on {result.platform}: {result.cycles} cycles, "
                 f"{sum(conflicts)} conflict cycles")
    ax.legend()
    fig.tight_layout()
    out = Path(output)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
