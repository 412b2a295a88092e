"""Plain-text score breakdown for the terminal (``handoff score LEAD.json``)."""

from __future__ import annotations

from bot.domain.leads import LeadProfile
from bot.scoring.result import Score


def format_breakdown(lead: LeadProfile, score: Score) -> str:
    """Who, score and grade, then one line per reason, largest first, with its group."""
    who = f"{lead.full_name} <{lead.email}>" if lead.full_name else lead.email
    if lead.company:
        who = f"{who}, {lead.company}"
    lines = [who, f"Score {score.points}/100, grade {score.grade}"]
    if not score.reasons:
        lines.append("  (no scoring signals)")
    signed = [f"{'+' if r.points >= 0 else chr(0x2212)}{abs(r.points)}" for r in score.reasons]
    width = max(map(len, signed), default=0)
    for points, reason in zip(signed, score.reasons, strict=True):
        lines.append(f"  {points:>{width}}  {reason.text}  [{reason.group}]")
    total = sum(reason.points for reason in score.reasons)
    if total != score.points:
        lines.append(f"  = {total}, clamped to {score.points} (scores stay within 0..100)")
    return "\n".join(lines)
