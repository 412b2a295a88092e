"""Pure lead scoring: score_lead(lead, events, rules, now) -> Score(points, grade, reasons)."""

from bot.domain.durations import parse_duration
from bot.scoring.engine import score_lead
from bot.scoring.result import Reason, Score
from bot.scoring.rules import ScoringRules

__all__ = ["Reason", "Score", "ScoringRules", "parse_duration", "score_lead"]
