"""Matplotlib in Qt (QtAgg canvas): the per-condition charts of the Results page.

The same two panels the report draws first — accuracy and high-risk error by
condition, one bar per model, with the 95% interval as an error bar — so a
committee member sees on screen what the PDF will show.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("QtAgg")

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from desktop.style import ACCENT, TEXT  # noqa: E402
from engine.conditions import registry  # noqa: E402
from engine.number_format import error_bar  # noqa: E402

SERIES_COLORS = (ACCENT, "#c07a2c", "#6b5b95", "#3e8e5e", "#9a4d4d", "#4a6b8a")
PANELS = (("accuracy", "Accuracy"), ("high_risk_error_rate", "High-risk error rate"),
          ("dangerous_overconfidence", "Dangerous overconfidence"))


class MetricsChart(FigureCanvasQTAgg):
    def __init__(self) -> None:
        self.figure = Figure(figsize=(9, 3.4), dpi=100, layout="constrained")
        self.figure.set_facecolor("white")
        super().__init__(self.figure)
        self.setMinimumHeight(260)
        self.show_empty("Choose a run to see its charts.")

    def show_empty(self, message: str) -> None:
        self.figure.clear()
        ax = self.figure.add_subplot(111)
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", color="#5b6b79", fontsize=11)
        self.draw_idle()

    def plot(self, cells: list) -> None:
        """cells: engine McqCellMetrics (one per model × suite × condition)."""
        if not cells:
            self.show_empty("No multiple-choice results in this run yet.")
            return
        self.figure.clear()
        conditions = [c for c in registry.names() if any(x.condition == c for x in cells)]
        series = sorted({(x.model, x.suite_id) for x in cells})
        width = 0.8 / max(1, len(series))
        axes = self.figure.subplots(1, len(PANELS), sharey=False)
        for ax, (metric, title) in zip(axes, PANELS):
            for s_i, (model, suite) in enumerate(series):
                xs, ys, lo, hi = [], [], [], []
                for c_i, cond in enumerate(conditions):
                    cell = next((x for x in cells if x.model == model and x.suite_id == suite
                                 and x.condition == cond), None)
                    bar = error_bar(getattr(cell, metric, None) if cell else None)
                    if bar is None:
                        continue
                    xs.append(c_i - 0.4 + width * (s_i + 0.5))
                    ys.append(bar[0])
                    lo.append(bar[1])
                    hi.append(bar[2])
                label = model if len({s for _, s in series}) == 1 else f"{model} · {suite}"
                ax.bar(xs, ys, width=width * 0.92, color=SERIES_COLORS[s_i % len(SERIES_COLORS)],
                       yerr=[lo, hi], capsize=2, error_kw={"elinewidth": 0.8, "ecolor": "#333"},
                       label=label)
            ax.set_title(title, fontsize=10, color=TEXT)
            ax.set_xticks(range(len(conditions)))
            ax.set_xticklabels([registry.label(c, "short") for c in conditions], rotation=30,
                               ha="right", fontsize=8)
            ax.set_ylim(0, 100)
            ax.set_ylabel("%", fontsize=8)
            ax.tick_params(axis="y", labelsize=8)
            ax.grid(axis="y", color="#e3e8ec", linewidth=0.8)
            ax.set_axisbelow(True)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        axes[0].legend(fontsize=8, frameon=False, loc="upper left")
        n = sorted({x.n_items for x in cells})
        self.figure.suptitle(f"Bars: point estimate · whiskers: 95% bootstrap interval · "
                             f"n = {', '.join(map(str, n))} items per cell",
                             fontsize=8, color="#5b6b79")
        self.draw_idle()
