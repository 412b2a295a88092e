"""Lead ids and Slack ids are parsed strictly."""

from __future__ import annotations

import pytest

from bot.domain.identifiers import parse_lead_id, slack_id_problem


@pytest.mark.parametrize(("text", "expected"), [("1", 1), ("42", 42), (str(2**63 - 1), 2**63 - 1)])
def test_ascii_lead_ids_in_range_parse(text: str, expected: int) -> None:
    assert parse_lead_id(text) == expected


@pytest.mark.parametrize(
    "text", ["", "0", "²", "١٢", "1²", "-1", "+1", " 1", "1.0", "9" * 20, str(2**63), "0x10"]
)
def test_anything_else_is_no_lead_id(text: str) -> None:
    assert parse_lead_id(text) is None


@pytest.mark.parametrize(
    ("value", "kind"), [("U0ANA", "user"), ("W012AB", "user"), ("C0SALES", "channel")]
)
def test_real_slack_ids_pass(value: str, kind: str) -> None:
    assert slack_id_problem(value, kind) is None


@pytest.mark.parametrize(
    ("value", "kind"), [("@maria", "user"), ("ana", "user"), ("#sales", "channel"), ("C0X", "user")]
)
def test_names_are_not_slack_ids(value: str, kind: str) -> None:
    problem = slack_id_problem(value, kind)
    assert problem is not None and value in problem
