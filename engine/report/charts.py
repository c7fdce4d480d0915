"""Charts for the report (matplotlib, Agg, no display): PNG bytes with labelled axes.

Every chart shows the 95% interval where there is one, because the committee
must see whether a difference between conditions is real, not just its size.
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from engine.conditions.registry import label as cond_label  # noqa: E402
from engine.metrics.types import McqCellMetrics, PairedComparison  # noqa: E402
from engine.number_format import REPORT, error_bar, percent_span, scalar  # noqa: E402

RATE_METRICS = [("accuracy", "Accuracy"), ("high_risk_error_rate", "High-risk error"),
                ("unsafe_answer_rate", "Unsafe answer"),
                ("contradiction_rate", "Evidence contradiction"),
                ("dangerous_overconfidence", "Dangerous overconfidence")]
PALETTE = ["#1f4e79", "#c0392b", "#e67e22", "#8e44ad", "#7f1d1d", "#2e8b57"]
DPI = 150


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def metrics_by_condition(cells: list[McqCellMetrics], suite_id: str, tau: float) -> bytes | None:
    """Grouped bars: accuracy and the safety rates per condition, with 95% intervals."""
    if not cells:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 3.4))
    n_metrics = len(RATE_METRICS)
    width = 0.8 / n_metrics
    for m_idx, (attr, label) in enumerate(RATE_METRICS):
        xs, ys = [], [[], []]
        vals = []
        for c_idx, cell in enumerate(cells):
            p = error_bar(getattr(cell, attr))
            if p is None:
                continue
            xs.append(c_idx - 0.4 + width * (m_idx + 0.5))
            vals.append(p[0])
            ys[0].append(p[1])
            ys[1].append(p[2])
        if label == "Dangerous overconfidence":
            label = f"{label} (conf. ≥ τ={tau:g})"
        ax.bar(xs, vals, width=width * 0.95, color=PALETTE[m_idx], label=label,
               yerr=ys, capsize=1.5, error_kw={"elinewidth": 0.7, "ecolor": "#333333"})
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([cond_label(c.condition).replace(" ", "\n") for c in cells],
                       fontsize=7.5)
    ax.set_ylabel("Rate (% of items), 95% CI", fontsize=8)
    ax.set_xlabel("Deployment condition", fontsize=8)
    ax.set_ylim(0, 105)
    ax.tick_params(axis="y", labelsize=7.5)
    ax.set_title(f"{suite_id}: accuracy and safety rates by condition", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=6.5, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2),
              frameon=False)
    return _png(fig)


def calibration(cells: list[McqCellMetrics], suite_id: str) -> bytes | None:
    """Reliability diagram: accuracy against mean confidence per confidence bin."""
    series = []
    for cell in cells:
        pts = [(b.get("confidence"), b.get("accuracy"), b.get("n", 0))
               for b in cell.calibration_bins
               if b.get("n") and b.get("confidence") is not None and b.get("accuracy") is not None]
        if pts:
            series.append((cell, pts))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=0.8,
            label="Perfect calibration")
    for i, (cell, pts) in enumerate(series):
        ece = f", ECE {scalar(cell.ece, 3, style=REPORT)}" if cell.ece is not None else ""
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3,
                linewidth=1, color=PALETTE[i % len(PALETTE)],
                label=f"{cond_label(cell.condition)}{ece}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Mean confidence of the chosen option (bin)", fontsize=8)
    ax.set_ylabel("Accuracy in bin", fontsize=8)
    ax.tick_params(labelsize=7.5)
    ax.set_title(f"{suite_id}: calibration (reliability diagram)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _png(fig)


def position_bias(cells: list[McqCellMetrics], suite_id: str) -> bytes | None:
    """Share of answers per option letter by condition, against the answer key's shares."""
    cells = [c for c in cells if c.chosen_position_share]
    if not cells:
        return None
    letters = sorted({k for c in cells for k in c.chosen_position_share} |
                     {k for c in cells for k in c.key_position_share})
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    width = 0.8 / (len(cells) + 1)
    for i, cell in enumerate(cells):
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(letters))]
        ax.bar(xs, [cell.chosen_position_share.get(L, 0) * 100 for L in letters],
               width=width * 0.95, color=PALETTE[i % len(PALETTE)],
               label=f"Chosen: {cond_label(cell.condition)}")
    key = cells[0].key_position_share
    if key:
        xs = [j - 0.4 + width * (len(cells) + 0.5) for j in range(len(letters))]
        ax.bar(xs, [key.get(L, 0) * 100 for L in letters], width=width * 0.95,
               color="#bbbbbb", edgecolor="#333333", hatch="//", label="Answer key")
    ax.set_xticks(range(len(letters)))
    ax.set_xticklabels(letters)
    ax.set_xlabel("Option position (letter)", fontsize=8)
    ax.set_ylabel("Share of answers (%)", fontsize=8)
    ax.tick_params(labelsize=7.5)
    ax.set_ylim(0, 100)
    ax.set_title(f"{suite_id}: answer-position bias", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _png(fig)


def condition_deltas(paired: list[PairedComparison], suite_id: str,
                     max_rows: int = 24) -> bytes | None:
    """Forest plot of paired differences between conditions, in percentage points."""
    rows = [p for p in paired if p.suite_id == suite_id and p.difference.value is not None]
    rows = rows[:max_rows]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 0.9 + 0.24 * len(rows)))
    labels = []
    for i, p in enumerate(reversed(rows)):
        v, lo, hi = percent_span(p.difference)
        colour = "#b3261e" if (lo > 0 or hi < 0) else "#1f4e79"
        ax.plot([lo, hi], [i, i], color=colour, linewidth=1.2)
        ax.plot([v], [i], marker="o", color=colour, markersize=3.5)
        labels.append(f"{p.metric.replace('_', ' ')}: {cond_label(p.condition_b)} − "
                      f"{cond_label(p.condition_a)}")
    ax.axvline(0, color="#444444", linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=6.5)
    ax.set_xlabel("Difference (percentage points), 95% CI; red = interval excludes 0",
                  fontsize=8)
    ax.tick_params(axis="x", labelsize=7.5)
    ax.set_title(f"{suite_id}: paired condition differences (same items)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
