"""format_breakdown: the text `handoff score LEAD.json` prints."""

from __future__ import annotations

from bot.domain.leads import LeadProfile
from bot.scoring import Reason, Score
from bot.scoring.explain import format_breakdown


def test_breakdown_lists_score_grade_and_each_reason() -> None:
    lead = LeadProfile(email="ana@acme.com", first_name="Ana", last_name="Ruiz", company="Acme")
    score = Score(
        points=33,
        grade="B",
        reasons=(
            Reason(25, "title matches VP/Head/Director", "fit"),
            Reason(-20, "free-mail domain (gmail.com)", "negative"),
            Reason(28, "booked a meeting 1 d ago", "engagement"),
        ),
    )

    assert format_breakdown(lead, score).splitlines() == [
        "Ana Ruiz <ana@acme.com>, Acme",
        "Score 33/100, grade B",
        "  +25  title matches VP/Head/Director  [fit]",
        "  −20  free-mail domain (gmail.com)  [negative]",
        "  +28  booked a meeting 1 d ago  [engagement]",
    ]


def test_breakdown_explains_clamping() -> None:
    score = Score(points=100, grade="A", reasons=(Reason(70, "a", "fit"), Reason(50, "b", "fit")))

    text = format_breakdown(LeadProfile(email="jo@acme.com"), score)

    assert text.splitlines()[0] == "jo@acme.com"
    assert text.splitlines()[-1] == "  = 120, clamped to 100 (scores stay within 0..100)"


def test_breakdown_without_reasons_says_so() -> None:
    text = format_breakdown(LeadProfile(email="jo@acme.com"), Score(0, "D", ()))

    assert text.splitlines() == ["jo@acme.com", "Score 0/100, grade D", "  (no scoring signals)"]
