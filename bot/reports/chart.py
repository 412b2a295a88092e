"""Report charts as PNGs: daily lead volume with median time to claim, and the lead funnel."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.domain.funnel import STAGE_LABELS, STAGES, FunnelMetrics
from bot.domain.report_query import DailyPoint

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _new_figure() -> Figure:
    """A bare Figure (not pyplot): never registered with a GUI manager, so nothing leaks.

    matplotlib is imported here, on the first chart, not with the module: it is most of the
    bot's import time, and every start of `handoff serve` (and each CLI command) would pay it.
    """
    import matplotlib
    from matplotlib.figure import Figure

    # Never a GUI backend, even if something else in the process imports pyplot.
    matplotlib.use("Agg")
    return Figure(figsize=(8, 3.5), dpi=100)


def render_report_chart(daily_series: Sequence[DailyPoint], title: str) -> bytes:
    """PNG bytes. Days without claims leave a gap in the line rather than a zero."""
    figure = _new_figure()
    try:
        volume_axis = figure.add_subplot()
        labels = [p.day.strftime("%m-%d") for p in daily_series]
        positions = list(range(len(daily_series)))
        volume_axis.bar(positions, [p.leads_in for p in daily_series], color="#4a90d9")
        volume_axis.set_ylabel("leads in")
        volume_axis.set_xticks(positions, labels, rotation=45, ha="right", fontsize=8)
        claim_axis = volume_axis.twinx()
        minutes = [
            float("nan")
            if p.median_time_to_claim is None
            else p.median_time_to_claim.total_seconds() / 60
            for p in daily_series
        ]
        claim_axis.plot(positions, minutes, color="#d0021b", marker="o", linewidth=1.5)
        claim_axis.set_ylabel("median time to claim (min)")
        claim_axis.set_ylim(bottom=0)
        figure.suptitle(title, fontsize=11)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        figure.clear()


def render_funnel_chart(funnel: FunnelMetrics, title: str) -> bytes:
    """PNG bytes: one horizontal bar per stage, labelled with its count and the conversion from
    the stage before, so the chart reads on its own when forwarded."""
    figure = _new_figure()
    try:
        axis = figure.add_subplot()
        counts = [funnel.count(stage) for stage in STAGES]
        positions = list(range(len(STAGES)))
        axis.barh(positions, counts, color="#4a90d9")
        axis.set_yticks(positions, [STAGE_LABELS[s] for s in STAGES])
        axis.invert_yaxis()  # new on top, won at the bottom
        labels = [str(counts[0])]
        labels += [
            f"{step.reached_to}  ({'—' if step.conversion is None else f'{step.conversion:.0%}'})"
            for step in funnel.steps
        ]
        for position, (count, label) in enumerate(zip(counts, labels, strict=True)):
            axis.text(count, position, f"  {label}", va="center", fontsize=9)
        axis.set_xlim(0, max(max(counts), 1) * 1.25)
        axis.set_xlabel("leads")
        figure.suptitle(title, fontsize=11)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        figure.clear()
