"""Free-mail and disposable domains come from maintained lists; config extends them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.leads import LeadProfile
from bot.scoring import ScoringRules, score_lead

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _negative_reasons(email: str, rules: ScoringRules | None = None) -> list[str]:
    score = score_lead(LeadProfile(email=email), [], rules or ScoringRules(), NOW)
    return [r.text for r in score.reasons if r.group == "negative"]


@pytest.mark.parametrize(
    "email", ["ana@yahoo.co.uk", "ana@web.de", "ana@gmx.net", "ana@gmail.com", "ana@eu.yahoo.co.uk"]
)
def test_free_mail_from_the_maintained_list(email: str) -> None:
    assert [r.split(" (")[0] for r in _negative_reasons(email)] == ["free-mail domain"]


@pytest.mark.parametrize("email", ["x@mailinator.com", "x@0-mail.com", "x@guerrillamail.com"])
def test_disposable_from_the_maintained_list_counts_once(email: str) -> None:
    assert [r.split(" (")[0] for r in _negative_reasons(email)] == ["disposable email domain"]


def test_companies_are_not_free_mail() -> None:
    assert _negative_reasons("ana@acme-industries.io") == []


def test_config_extends_each_list_without_replacing_it() -> None:
    rules = ScoringRules.model_validate(
        {
            "negative": {
                "free_mail": {"extra_domains": ["freemail.example"]},
                "disposable": {"extra_domains": ["@burner.example"]},
            }
        }
    )
    assert "free-mail domain (freemail.example)" in _negative_reasons("a@freemail.example", rules)
    assert "disposable email domain (burner.example)" in _negative_reasons(
        "a@burner.example", rules
    )
    assert _negative_reasons("a@web.de", rules) == ["free-mail domain (web.de)"]  # still listed
