"""Block Kit for `/leads` answers: pure, escaped and bounded like every other message.

Kept beside `blocks.py` (and built from its helpers) so the hand-off messages and the reports
each fit on a screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.domain.funnel import STAGE_LABELS, Funnel, FunnelMetrics, FunnelRow
from bot.domain.report_query import (
    BreakdownRow,
    FoundLead,
    LeaderboardRow,
    Period,
    ReasonCount,
    Report,
    ReportMetrics,
    ReturnedLead,
    StaleList,
)
from bot.slack.blocks import (
    MAX_MESSAGE_BLOCKS,
    NOT_READY_REASONS,
    SECTION_TEXT_MAX,
    bound_mrkdwn,
    format_duration,
    mention,
    safe,
    truncate,
)

Block = dict[str, Any]
TABLE_ROWS = 12


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": bound_mrkdwn(text, 3000)}}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, 150)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": bound_mrkdwn(text, 2000)}]}


def _message(fallback: str, blocks: list[Block]) -> dict[str, Any]:
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        blocks = [*blocks[: MAX_MESSAGE_BLOCKS - 1], _context("(cut to fit one message)")]
    return {"text": truncate(fallback, 300), "blocks": blocks}


def _dur(value: timedelta | None) -> str:
    return "—" if value is None else format_duration(value)


def _pct(part: int, whole: int) -> str:
    return "—" if not whole else f"{100 * part / whole:.0f}%"


def _who(user_id: str | None) -> str:
    return "—" if not user_id else mention(user_id)


def _channel(channel_id: str | None) -> str:
    if not channel_id:
        return "—"
    if channel_id[:1] in {"C", "G"} and channel_id.isalnum() and channel_id.isupper():
        return f"<#{channel_id}>"
    return safe(channel_id, 80)


def _reason(code: str | None) -> str:
    return safe(NOT_READY_REASONS.get(code or "", code or "—"), 100)


def _summary(m: ReportMetrics) -> str:
    lines = [
        f"*Leads in* {m.leads_in}  ·  *hot* {m.hot} ({_pct(m.hot, m.leads_in)})  ·  "
        f"*routed* {m.routed}  ·  *claimed* {m.claimed}",
        f"*Time to claim* median {_dur(m.median_time_to_claim)}, "
        f"p90 {_dur(m.p90_time_to_claim)}  ·  *first touch* median "
        f"{_dur(m.median_time_to_first_touch)}",
        f"*SLA breaches* {m.sla_breaches}  ·  *returns* {m.returns}  ·  *won* {m.won}  ·  "
        f"*lost* {m.lost}  ·  *disqualified* {m.disqualified}",
    ]
    return "\n".join(lines)


def _table(title: str, rows: Sequence[BreakdownRow], label: Any) -> Block | None:
    if not rows:
        return None
    lines = [f"*{title}*"]
    for row in rows[:TABLE_ROWS]:
        m = row.metrics
        lines.append(
            f"• {label(row.key)}: in {m.leads_in}, claimed {m.claimed}, median claim "
            f"{_dur(m.median_time_to_claim)}, returns {m.returns}, won {m.won}"
        )
    if len(rows) > TABLE_ROWS:
        lines.append(f"_and {len(rows) - TABLE_ROWS} more_")
    return _section("\n".join(lines))


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _funnel_path(m: FunnelMetrics) -> str:
    """`New 9 → Hot 6 (67%, 15 min) → ...`: each stage with the conversion and median time
    from the stage before."""
    parts = [f"{STAGE_LABELS['new']} *{m.new}*"]
    for step in m.steps:
        parts.append(
            f"{STAGE_LABELS[step.to_stage]} *{step.reached_to}* "
            f"({_rate(step.conversion)}, {_dur(step.median_time)})"
        )
    return " → ".join(parts)


def _beside(m: FunnelMetrics) -> str:
    return f"returned {m.returned} · disqualified {m.disqualified} · lost {m.lost}"


def _funnel_table(title: str, rows: Sequence[FunnelRow], label: Any) -> Block | None:
    if not rows:
        return None
    lines = [f"*{title}*"]
    for row in rows[:TABLE_ROWS]:
        m = row.metrics
        counts = " → ".join(
            [str(m.new)] + [f"{s.reached_to} ({_rate(s.conversion)})" for s in m.steps]
        )
        lines.append(f"• {label(row.key)}: {counts} · {_beside(m)}")
    if len(rows) > TABLE_ROWS:
        lines.append(f"_and {len(rows) - TABLE_ROWS} more_")
    return _section("\n".join(lines))


FUNNEL_EXPLAINED = (
    "Leads that came in during the period and how far each got by now; in brackets the "
    "conversion from the stage before and the median time between them."
)


def _funnel_blocks(funnel: Funnel) -> list[Block]:
    blocks = [
        _section(f"*Funnel*  {_funnel_path(funnel.total)}\n_Beside it:_ {_beside(funnel.total)}"),
    ]
    for name, rows, label in (
        ("Funnel by source", funnel.by_source, lambda k: safe(k or "(none)", 80)),
        ("Funnel by channel", funnel.by_channel, _channel),
    ):
        table = _funnel_table(name, rows, label)
        if table is not None:
            blocks.append(table)
    return blocks


def build_funnel_message(period: Period, funnel: Funnel) -> dict[str, Any]:
    title = f"Lead funnel · {period.label}"
    m = funnel.total
    blocks: list[Block] = [
        _header(title),
        _context(
            f"{period.start:%Y-%m-%d %H:%M} – {period.end:%Y-%m-%d %H:%M} UTC · " + FUNNEL_EXPLAINED
        ),
    ]
    if not m.new:
        blocks.append(_section("No lead came in during this period."))
    else:
        blocks += _funnel_blocks(funnel)
    fallback = f"{title}: {m.new} new, {m.hot} hot, {m.claimed} claimed, {m.won} won"
    return _message(fallback, blocks)


def build_report_message(
    period: Period, report: Report, funnel: Funnel | None = None
) -> dict[str, Any]:
    scope = []
    if report.scope.channel:
        scope.append(_channel(report.scope.channel))
    if report.scope.rep:
        scope.append(_who(report.scope.rep))
    title = f"Lead report · {period.label}"
    blocks: list[Block] = [
        _header(title),
        _context(
            f"{period.start:%Y-%m-%d %H:%M} – {period.end:%Y-%m-%d %H:%M} UTC"
            + (f" · {' '.join(scope)}" if scope else "")
        ),
        _section(_summary(report.total)),
    ]
    if report.top_return_reasons:
        reasons = ", ".join(
            f"{_reason(r.reason)} ({r.count})" for r in report.top_return_reasons[:5]
        )
        blocks.append(_section(f"*Top return reasons* {reasons}"))
    for name, rows, label in (
        ("By source", report.by_source, lambda k: safe(k or "(none)", 80)),
        ("By channel", report.by_channel, _channel),
        ("By rep", report.by_rep, _who),
    ):
        table = _table(name, rows, label)
        if table is not None:
            blocks.append(table)
    if funnel is not None and funnel.total.new:
        blocks += _funnel_blocks(funnel)
    if report.grade_mix:
        lines = ["*Claims by grade* (only A can mean cherry-picking)"]
        for mix in report.grade_mix[:TABLE_ROWS]:
            grades = ", ".join(f"{g} {n}" for g, n in sorted(mix.by_grade.items()))
            lines.append(f"• {_who(mix.rep)}: {grades}")
        blocks.append(_section("\n".join(lines)))
    if report.claim_shares:
        lines = ["*Claim share per channel*"]
        for share in report.claim_shares[:TABLE_ROWS]:
            lines.append(
                f"• {_channel(share.channel)} {_who(share.rep)}: {share.claims}/"
                f"{share.channel_claims} ({share.share:.0%})"
            )
        blocks.append(_section("\n".join(lines)))
    m = report.total
    fallback = (
        f"{title}: {m.leads_in} in, {m.claimed} claimed, median {_dur(m.median_time_to_claim)}"
    )
    return _message(fallback, blocks)


def build_help_message(text: str, problem: str | None) -> dict[str, Any]:
    blocks: list[Block] = []
    if problem:
        blocks.append(_section(f":warning: {safe(problem, 500)}"))
    blocks.append(_section(text))
    return _message(problem or "How to use /leads", blocks)


def build_stale_message(stale: StaleList) -> dict[str, Any]:
    if not stale.leads:
        return _message("No stale leads", [_section(":white_check_mark: No untouched leads.")])
    lines = []
    for lead in stale.leads:
        owner = _who(lead.owner) if lead.owner else "unclaimed"
        lines.append(
            f"• *{safe(lead.name or lead.email, 100)}* ({safe(lead.company or '—', 80)}) · "
            f"{format_duration(lead.age)} old · {owner} · {_channel(lead.channel)} · "
            f"#{lead.lead_id}"
        )
    blocks = [_header(f"Untouched leads · {stale.total}")]
    blocks += _chunks(lines)
    if stale.total > len(stale.leads):
        blocks.append(_context(f"Showing the oldest {len(stale.leads)} of {stale.total}."))
    return _message(f"{stale.total} untouched leads", blocks)


def _chunks(lines: Sequence[str]) -> list[Block]:
    """Pack lines into sections under the 3,000-character limit."""
    blocks: list[Block] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + len(line) + 1 > SECTION_TEXT_MAX - 100:
            blocks.append(_section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        blocks.append(_section("\n".join(current)))
    return blocks


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def build_find_message(text: str, leads: Sequence[FoundLead]) -> dict[str, Any]:
    if not leads:
        return _message("No lead found", [_section(f"No lead matches `{safe(text, 200)}`.")])
    blocks: list[Block] = []
    for lead in leads[:5]:
        blocks.append(
            _section(
                f"*{safe(lead.name or lead.email, 150)}* · {safe(lead.title or '—', 100)} at "
                f"{safe(lead.company or '—', 100)}\n{safe(lead.email, 200)} · #{lead.lead_id} · "
                f"*{lead.state}* · score {lead.score} ({safe(lead.grade, 2)}) · source "
                f"{safe(lead.source or '—', 80)} · owner {_who(lead.owner)} · "
                f"{_channel(lead.channel)}"
            )
        )
        history = [
            f"`{t.at:%Y-%m-%d %H:%M}` {safe(t.action, 40)} {t.from_state or ''}→{t.to_state}"
            f" by {_who(t.actor) if t.actor[:1] in {'U', 'W'} else safe(t.actor, 40)}"
            for t in lead.transitions[-15:]
        ]
        if history:
            blocks.append(_context("\n".join(history)))
    if len(leads) > 5:
        blocks.append(_context(f"and {len(leads) - 5} more; narrow the search"))
    return _message(f"{len(leads)} lead(s) match", blocks)


def build_returns_message(period: Period, returns: Sequence[ReturnedLead]) -> dict[str, Any]:
    title = f"Returned leads · {period.label} · {len(returns)}"
    if not returns:
        return _message(title, [_header(title), _section("No lead was returned.")])
    counts: dict[str, int] = {}
    for item in returns:
        counts[_reason(item.reason)] = counts.get(_reason(item.reason), 0) + 1
    summary = ", ".join(f"{k} ({v})" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    lines = [
        f"• *{safe(r.name or r.email, 100)}* ({safe(r.company or '—', 80)}) · {_reason(r.reason)}"
        f" · by {_who(r.returned_by)} · source {safe(r.source or '—', 60)} · campaign "
        f"{safe(r.campaign or '—', 60)}" + (f"\n   _{safe(r.note, 300)}_" if r.note else "")
        for r in returns[:40]
    ]
    blocks = [_header(title), _section(f"*By reason* {summary}"), *_chunks(lines)]
    if len(returns) > 40:
        blocks.append(_context(f"and {len(returns) - 40} more: `/leads export` has them all"))
    return _message(title, blocks)


def build_leaderboard_message(period: Period, rows: Sequence[LeaderboardRow]) -> dict[str, Any]:
    title = f"Leaderboard · {period.label}"
    if not rows:
        return _message(title, [_header(title), _section("No claims in this period.")])
    lines = [
        f"{rank}. {_who(row.rep)} · claimed {row.claimed} · contacted {row.contacted} · median "
        f"claim {_dur(row.median_time_to_claim)} · won {row.won}"
        for rank, row in enumerate(rows[:30], start=1)
    ]
    return _message(title, [_header(title), *_chunks(lines)])


def build_export_message(filename: str, rows: int, truncated: bool) -> dict[str, Any]:
    text = f":page_facing_up: Exported {rows} lead(s) to `{safe(filename, 100)}`."
    if truncated:
        text += " The period has more; pick a shorter one for the rest."
    return _message(text, [_section(text)])


def build_notice_message(text: str) -> dict[str, Any]:
    return _message(text, [_section(text)])


def build_returns_digest(
    period: Period,
    by_reason: Sequence[ReasonCount],
    by_source: Sequence[ReasonCount],
    by_campaign: Sequence[ReasonCount],
) -> dict[str, Any]:
    total = sum(r.count for r in by_reason)
    title = f"Returned leads this week · {total}"
    if not total:
        return _message(title, [_header(title), _section("Sales returned no lead this week.")])

    def line(name: str, counts: Sequence[ReasonCount], label: Any) -> str:
        parts = ", ".join(f"{label(c.reason)} ({c.count})" for c in counts[:10])
        return f"*{name}* {parts}"

    plain = lambda key: safe(key, 80)  # noqa: E731 - a one-word label function
    blocks = [
        _header(title),
        _context(f"{period.start:%Y-%m-%d} – {period.end:%Y-%m-%d}"),
        _section(
            "\n".join(
                [
                    line("By reason", by_reason, _reason),
                    line("By source", by_source, plain),
                    line("By campaign", by_campaign, plain),
                ]
            )
        ),
        _context("`/leads returns 7d` lists each lead with the rep's note."),
    ]
    return _message(title, blocks)


def build_endpoint_failing_message(
    name: str, url: str, failing_since: datetime, problem: str
) -> dict[str, Any]:
    text = (
        f":warning: The webhook endpoint *{safe(name, 50)}* (`{safe(url, 300)}`) has been failing "
        f"since {_when(failing_since)}: {safe(problem, 300)}. Its lifecycle events are kept and "
        "retried; they go out by themselves once it answers again."
    )
    return _message(f"Webhook endpoint {name} is failing", [_section(text)])


def build_endpoint_resumed_message(name: str, url: str) -> dict[str, Any]:
    text = (
        f":white_check_mark: The webhook endpoint *{safe(name, 50)}* (`{safe(url, 300)}`) "
        "answers again; the events it missed are being delivered."
    )
    return _message(f"Webhook endpoint {name} is back", [_section(text)])
