"""Matplotlib in Qt (QtAgg canvas): the per-condition charts of the Results page.

The same two panels the report draws first — accuracy and high-risk error by
condition, one bar per model, with the 95% interval as an error bar — so a
committee member sees on screen what the PDF will show. The figure takes the
theme's panel and text colours, so it is no white slab in a dark window.
"""
from __future__ import annotations

# The canvas is used directly with a Figure (no pyplot), so no global backend switch:
# matplotlib.use("QtAgg") failed whenever the report code had already started pyplot
# headless in the same process (a test session, a report generated before the window).
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from desktop.style import ACCENT, theme
from engine.conditions import registry
from engine.number_format import error_bar

SERIES_COLORS = (ACCENT, "#c07a2c", "#6b5b95", "#3e8e5e", "#9a4d4d", "#4a6b8a")
PANELS = (("accuracy", "Accuracy"), ("high_risk_error_rate", "High-risk error rate"),
          ("dangerous_overconfidence", "Dangerous overconfidence"))


class MetricsChart(FigureCanvasQTAgg):
    def __init__(self) -> None:
        self.figure = Figure(figsize=(9, 3.4), dpi=100, layout="constrained")
        super().__init__(self.figure)
        self.setMinimumHeight(220)
        self.show_empty("Choose a run to see its charts.")

    def _paint_background(self):
        t = theme()
        self.figure.set_facecolor(t.panel)
        return t

    def show_empty(self, message: str) -> None:
        self.figure.clear()
        t = self._paint_background()
        ax = self.figure.add_subplot(111)
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", color=t.muted, fontsize=11)
        self.draw_idle()

    def plot(self, cells: list) -> None:
        """cells: engine McqCellMetrics (one per model × suite × condition)."""
        if not cells:
            self.show_empty("No multiple-choice results in this run yet.")
            return
        self.figure.clear()
        t = self._paint_background()
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
                       yerr=[lo, hi], capsize=2, error_kw={"elinewidth": 0.8, "ecolor": t.text},
                       label=label)
            ax.set_facecolor(t.panel)
            ax.set_title(title, fontsize=10, color=t.text)
            ax.set_xticks(range(len(conditions)))
            ax.set_xticklabels([registry.label(c, "short") for c in conditions], rotation=30,
                               ha="right", fontsize=8)
            ax.set_ylim(0, 100)
            ax.set_ylabel("%", fontsize=8, color=t.text)
            ax.tick_params(axis="y", labelsize=8, colors=t.text)
            ax.tick_params(axis="x", colors=t.text)
            ax.grid(axis="y", color=t.grid, linewidth=0.8)
            ax.set_axisbelow(True)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            for side in ("left", "bottom"):
                ax.spines[side].set_color(t.muted)
        legend = axes[0].legend(fontsize=8, frameon=False, loc="upper left")
        for text in legend.get_texts():
            text.set_color(t.text)
        n = sorted({x.n_items for x in cells})
        self.figure.suptitle(f"Bars: point estimate · whiskers: 95% bootstrap interval · "
                             f"n = {', '.join(map(str, n))} items per cell",
                             fontsize=8, color=t.muted)
        self.draw_idle()
