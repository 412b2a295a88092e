"""Block Kit builders tested as plain data: escaped, bounded, valid, and leak-free."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.domain.leads import EngagementEvent, LeadProfile, LeadState
from bot.scoring.result import Reason, Score
from bot.slack.blocks import (
    NOT_READY_REASONS,
    LeadCard,
    bound_mrkdwn,
    build_app_home,
    build_claim_dm,
    build_ephemeral_text,
    build_lead_card,
    build_marketing_return_message,
    build_not_ready_modal,
    escape_mrkdwn,
    format_age,
    mention,
)
from tests.fakes import validate_message, validate_view

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
EMAIL = "jane.doe@acme.example"
PHONE = "+49 30 1234567"
HUGE = 10_000


def make_card(**changes: Any) -> LeadCard:
    profile = LeadProfile(
        email=EMAIL,
        first_name="Jane",
        last_name="Doe",
        title="VP Sales",
        company="Acme",
        company_size=250,
        industry="Software",
        country="DE",
        phone=PHONE,
        website="https://acme.example",
        source="webinar",
        utm={"utm_source": "linkedin"},
    )
    card = LeadCard(
        lead_id=42,
        profile=profile,
        score=Score(
            points=82,
            grade="A",
            reasons=(
                Reason(25, "title matches VP/Head/Director", "fit"),
                Reason(20, "viewed pricing twice", "engagement"),
                Reason(15, "company size 200-1000", "fit"),
                Reason(-5, "free mail domain", "negative"),
            ),
        ),
        latest_event=EngagementEvent(
            "pricing_page_view", NOW - timedelta(minutes=5), {"url": "https://acme.example/p"}
        ),
        arrived_at=NOW - timedelta(minutes=20),
        state=LeadState.ROUTED,
    )
    return replace(card, **changes)


def with_profile(card: LeadCard, **changes: Any) -> LeadCard:
    return replace(card, profile=replace(card.profile, **changes))


def claimed(card: LeadCard) -> LeadCard:
    return replace(
        card,
        state=LeadState.CLAIMED,
        claimed_by="U123",
        claimed_at=card.arrived_at + timedelta(minutes=3),
    )


def mrkdwn_texts(node: Any) -> list[str]:
    """Every string Slack will parse as mrkdwn: mrkdwn text objects and the fallback text."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            found.append(node["text"])
        if isinstance(node.get("text"), str) and "blocks" in node:
            found.append(node["text"])
        for value in node.values():
            found += mrkdwn_texts(value)
    elif isinstance(node, list):
        for item in node:
            found += mrkdwn_texts(item)
    return found


def action_elements(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in payload["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def action_ids(payload: dict[str, Any]) -> list[str]:
    return [element["action_id"] for element in action_elements(payload)]


def assert_no_broken_entities(text: str) -> None:
    leftover = re.sub(r"&(amp|lt|gt);", "", text)
    assert "&" not in leftover, text[-40:]


def test_lead_markup_in_every_field_pings_nobody_and_links_nowhere() -> None:
    card = with_profile(
        make_card(route_reason="<!here> territory"),
        first_name="<!channel>",
        last_name="Smith & Sons",
        title="<https://evil.example|click me>",
        company="<@U999> Corp",
        source="<!subteam^S123>",
    )
    for payload in (build_lead_card(card, NOW), build_claim_dm(claimed(card), NOW)):
        texts = mrkdwn_texts(payload)
        joined = "\n".join(texts)
        assert "&lt;!channel&gt;" in joined
        assert "&lt;https://evil.example|click me&gt;" in joined
        assert "Smith &amp; Sons" in joined
        for text in texts:
            # The only raw "<" allowed is our own markup: a real mention or a mailto link.
            for markup in re.findall(r"<[^>]*>", text):
                assert re.fullmatch(r"<@U123>|<mailto:[^|]+\|[^>]+>", markup), markup
        assert all(text_object.get("verbatim") for text_object in _mrkdwn_objects(payload))


def _mrkdwn_objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if node.get("type") == "mrkdwn" else []
        return own + [o for value in node.values() for o in _mrkdwn_objects(value)]
    if isinstance(node, list):
        return [o for item in node for o in _mrkdwn_objects(item)]
    return []


def test_escape_mrkdwn_replaces_slack_control_characters() -> None:
    assert escape_mrkdwn("a & <b> > c") == "a &amp; &lt;b&gt; &gt; c"


def test_mention_renders_only_real_user_ids() -> None:
    assert mention("U123ABC") == "<@U123ABC>"
    assert mention("<!channel>") == "&lt;!channel&gt;"


def test_channel_card_never_shows_email_or_phone() -> None:
    payload = json.dumps(build_lead_card(make_card(), NOW))
    assert EMAIL not in payload
    assert "jane.doe" not in payload
    assert PHONE not in payload


def test_nameless_lead_gets_a_placeholder_header_not_the_email() -> None:
    card = with_profile(make_card(), first_name=None, last_name=None)
    payload = build_lead_card(card, NOW)
    assert payload["blocks"][0]["text"]["text"] == "Unnamed lead at Acme"
    anonymous = with_profile(card, company=None)
    assert build_lead_card(anonymous, NOW)["blocks"][0]["text"]["text"] == "Unnamed lead #42"
    assert EMAIL not in json.dumps(build_lead_card(anonymous, NOW))


def test_open_card_offers_claim_and_not_ready_carrying_the_lead_id() -> None:
    payload = build_lead_card(make_card(), NOW)
    buttons = action_elements(payload)
    assert [(b["action_id"], b["text"]["text"], b["value"]) for b in buttons] == [
        ("lead_claim", "Claim", "42"),
        ("lead_not_ready", "Not ready", "42"),
    ]
    assert buttons[0]["style"] == "primary"
    shown = json.dumps(payload)
    for expected in ("VP Sales", "Acme", "250 employees", "DE", "webinar", "*82*", "grade A"):
        assert expected in shown
    assert "+25 title matches VP/Head/Director" in shown
    assert "free mail domain" not in shown  # only the top three reasons
    assert "Pricing page view" in shown
    assert "5 min ago" in shown


def test_claimed_card_has_no_buttons_and_says_who_and_how_fast() -> None:
    payload = build_lead_card(claimed(make_card()), NOW)
    assert action_elements(payload) == []
    assert "Claimed by <@U123> — 3 min after arrival" in "\n".join(mrkdwn_texts(payload))


def test_returned_card_names_the_rep_and_the_reason() -> None:
    card = make_card(
        state=LeadState.NURTURING, returned_reason="budget", returned_by="U777", claimed_by=None
    )
    payload = build_lead_card(card, NOW)
    assert action_elements(payload) == []
    assert "Returned to marketing by <@U777>: No budget" in "\n".join(mrkdwn_texts(payload))


def test_returned_card_escapes_a_free_text_reason() -> None:
    card = make_card(state=LeadState.NURTURING, returned_reason="<!channel>", returned_by="U7")
    texts = "\n".join(mrkdwn_texts(build_lead_card(card, NOW)))
    assert "Returned to marketing by <@U7>: &lt;!channel&gt;" in texts


@pytest.mark.parametrize(
    ("state", "label"),
    [(LeadState.WON, "Won"), (LeadState.LOST, "Lost"), (LeadState.DISQUALIFIED, "Disqualified")],
)
def test_final_card_shows_the_outcome_without_buttons(state: LeadState, label: str) -> None:
    card = replace(claimed(make_card()), state=state)
    for payload in (build_lead_card(card, NOW), build_claim_dm(card, NOW)):
        assert action_elements(payload) == []
        assert f"*{label}*" in "\n".join(mrkdwn_texts(payload))


def test_claim_dm_has_contact_details_and_next_steps() -> None:
    payload = build_claim_dm(claimed(make_card()), NOW)
    shown = json.dumps(payload)
    assert f"<mailto:{EMAIL}|{EMAIL}>" in shown
    assert PHONE in shown
    elements = action_elements(payload)
    assert [(e["action_id"], e.get("value")) for e in elements if e["type"] == "button"] == [
        ("lead_contacted", "42"),
        ("lead_not_ready", "42"),
        ("lead_snooze_1h", "42:1h"),
        ("lead_snooze_tomorrow", "42:tomorrow"),
        ("lead_release", "42"),
    ]
    (outcome,) = [e for e in elements if e["type"] == "static_select"]
    assert outcome["action_id"] == "lead_outcome"
    assert [o["value"] for o in outcome["options"]] == ["42:won", "42:lost", "42:disqualified"]


def test_contacted_dm_drops_the_contacted_button() -> None:
    card = replace(claimed(make_card()), state=LeadState.CONTACTED)
    assert "lead_contacted" not in action_ids(build_claim_dm(card, NOW))


def test_claim_dm_does_not_link_an_email_that_would_break_the_link() -> None:
    card = with_profile(claimed(make_card()), email="a|<b>@x.example")
    shown = "\n".join(mrkdwn_texts(build_claim_dm(card, NOW)))
    assert "mailto" not in shown
    assert "a|&lt;b&gt;@x.example" in shown


def every_payload(card: LeadCard) -> list[dict[str, Any]]:
    return [
        build_lead_card(card, NOW),
        build_lead_card(claimed(card), NOW),
        build_lead_card(replace(card, state=LeadState.NURTURING, returned_reason="x"), NOW),
        build_lead_card(replace(claimed(card), state=LeadState.WON), NOW),
        build_claim_dm(claimed(card), NOW),
        build_claim_dm(replace(claimed(card), state=LeadState.CONTACTED), NOW),
        build_claim_dm(replace(claimed(card), state=LeadState.LOST), NOW),
        build_marketing_return_message(card, "timing", "call in Q3", date(2025, 6, 1), "U1"),
        build_marketing_return_message(card, "other", None, None, "U1"),
        build_ephemeral_text("That lead was already claimed."),
    ]


@pytest.mark.parametrize("index", range(10))
def test_every_message_builder_output_is_valid_block_kit(index: int) -> None:
    assert validate_message(every_payload(make_card())[index]) == []


def test_every_view_builder_output_is_valid_block_kit() -> None:
    card = make_card()
    views = [
        build_not_ready_modal(42, "Jane Doe"),
        build_app_home([], NOW, None),
        build_app_home([card, claimed(card)], NOW, None),
        build_app_home([claimed(card)], NOW, NOW + timedelta(hours=2)),
    ]
    for view in views:
        assert validate_view(view) == []


def huge_card() -> LeadCard:
    text = "R&D <b> " * (HUGE // 8)
    card = with_profile(
        make_card(
            route_reason=text,
            returned_reason=text,
            returned_by=text,
            latest_event=EngagementEvent(text, NOW, {"title": text}),
            score=Score(100, text, tuple(Reason(10, text, "fit") for _ in range(50))),
        ),
        first_name=text,
        last_name=text,
        title=text,
        company=text,
        industry=text,
        country=text,
        source=text,
        phone=text,
        website=text,
        email=text + "@x.example",
        utm={f"{i}{text}": text for i in range(3)},
    )
    return card


def test_ten_thousand_character_fields_stay_within_slack_limits() -> None:
    card = huge_card()
    for payload in every_payload(card):
        assert validate_message(payload) == []
        assert len(payload["text"]) <= 300
        for text in mrkdwn_texts(payload):
            assert_no_broken_entities(text)
    header = build_lead_card(card, NOW)["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")
    assert validate_view(build_not_ready_modal(42, "R&D <b> " * HUGE)) == []
    assert validate_view(build_app_home([card] * 5, NOW, None)) == []


@pytest.mark.parametrize("limit", range(2, 12))
def test_truncation_never_splits_an_escape_sequence(limit: int) -> None:
    bounded = bound_mrkdwn(escape_mrkdwn("a&<>b" * 5), limit)
    assert len(bounded) <= limit
    assert_no_broken_entities(bounded)
    assert bounded.endswith("…")


def test_truncation_never_splits_our_own_markup() -> None:
    bounded = bound_mrkdwn("Claimed by <@U12345678> today", 16)
    assert bounded == "Claimed by …"


def test_not_ready_modal_carries_the_lead_and_offers_every_reason() -> None:
    view = build_not_ready_modal(42, "<!channel>")
    assert view["type"] == "modal"
    assert view["callback_id"] == "not_ready_submit"
    assert view["private_metadata"] == "42"
    blocks = {block.get("block_id"): block for block in view["blocks"]}
    reason = blocks["reason"]["element"]
    assert reason["action_id"] == "reason"
    assert {o["value"]: o["text"]["text"] for o in reason["options"]} == NOT_READY_REASONS
    assert set(NOT_READY_REASONS) == {
        "timing",
        "budget",
        "no_authority",
        "wrong_fit",
        "student_or_job_seeker",
        "other",
    }
    assert blocks["note"]["optional"] is True
    assert blocks["note"]["element"]["multiline"] is True
    assert blocks["recontact_after"]["optional"] is True
    assert blocks["recontact_after"]["element"]["type"] == "datepicker"
    assert "&lt;!channel&gt;" in view["blocks"][0]["text"]["text"]


def test_marketing_return_message_escapes_the_note_and_hides_contact_details() -> None:
    payload = build_marketing_return_message(
        claimed(make_card()), "wrong_fit", "<!channel> they sell <b>", date(2025, 9, 1), "U55"
    )
    shown = "\n".join(mrkdwn_texts(payload))
    assert "returned to marketing by <@U55>: Wrong fit" in shown
    assert "&lt;!channel&gt; they sell &lt;b&gt;" in shown
    assert "2025-09-01" in shown
    assert EMAIL not in json.dumps(payload)
    assert PHONE not in json.dumps(payload)


def test_app_home_with_200_leads_fits_100_blocks_and_counts_the_rest() -> None:
    leads = [claimed(make_card(lead_id=i)) for i in range(200)]
    view = build_app_home(leads, NOW, None)
    assert view["type"] == "home"
    assert len(view["blocks"]) <= 100
    assert validate_view(view) == []
    shown_ids = {e["value"] for e in action_elements(view) if e["action_id"] == "lead_release"}
    more = view["blocks"][-1]["elements"][0]["text"]
    assert f"and {200 - len(shown_ids)} more" in more


def test_app_home_offers_pause_or_resume() -> None:
    running = build_app_home([], NOW, None)
    assert running["blocks"][1]["accessory"]["action_id"] == "rep_pause"
    paused = build_app_home([], NOW, NOW + timedelta(hours=1))
    assert paused["blocks"][1]["accessory"]["action_id"] == "rep_resume"
    assert "<!date^" in paused["blocks"][1]["text"]["text"]


def test_app_home_shows_each_lead_with_age_and_state_actions() -> None:
    open_card = make_card(lead_id=1)
    mine = claimed(make_card(lead_id=2))
    view = build_app_home([open_card, mine], NOW, None)
    assert "arrived 20 min ago" in "\n".join(mrkdwn_texts(view))
    actions = [b for b in view["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == ["lead_claim", "lead_not_ready"]
    assert "lead_contacted" in [e["action_id"] for e in actions[1]["elements"]]


def test_ephemeral_text_is_escaped() -> None:
    assert build_ephemeral_text("<!here> & co")["text"] == "&lt;!here&gt; &amp; co"


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        (timedelta(seconds=10), "just now"),
        (timedelta(minutes=3), "3 min ago"),
        (timedelta(hours=2, minutes=5), "2 h 5 min ago"),
        (timedelta(days=1, hours=3), "1 d 3 h ago"),
        (timedelta(days=9), "9 d ago"),
        (-timedelta(minutes=5), "just now"),
    ],
)
def test_format_age(ago: timedelta, expected: str) -> None:
    assert format_age(NOW - ago, NOW) == expected
