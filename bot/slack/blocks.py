"""All Block Kit output: pure builders that escape lead data and stay inside Slack's limits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.domain.leads import EngagementEvent, LeadProfile, LeadState
from bot.domain.lifecycle import FINAL_STATES, OPEN_STATES, OWNED_STATES
from bot.scoring.result import Score

# Slack's documented limits (docs.slack.dev/reference/block-kit). Going over any of them makes
# Slack reject the whole message with invalid_blocks, so every builder stays under them.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
MAX_FIELDS = 10
CONTEXT_TEXT_MAX = 2000
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
OPTION_TEXT_MAX = 75
PRIVATE_METADATA_MAX = 3000
FALLBACK_TEXT_MAX = 300  # Slack allows 40,000; a notification preview wants one line
NOTE_MAX = 2000  # our own cap on the free-text note in the "Not ready" modal

ELLIPSIS = "…"

ACTION_CLAIM = "lead_claim"
ACTION_NOT_READY = "lead_not_ready"
ACTION_CONTACTED = "lead_contacted"
ACTION_SNOOZE_1H = "lead_snooze_1h"
ACTION_SNOOZE_TOMORROW = "lead_snooze_tomorrow"
ACTION_RELEASE = "lead_release"
ACTION_OUTCOME = "lead_outcome"
ACTION_PAUSE = "rep_pause"
ACTION_RESUME = "rep_resume"

NOT_READY_CALLBACK_ID = "not_ready_submit"
NOT_READY_REASON_BLOCK = "reason"
NOT_READY_NOTE_BLOCK = "note"
NOT_READY_RECONTACT_BLOCK = "recontact_after"

NOT_READY_REASONS: dict[str, str] = {
    "timing": "Bad timing",
    "budget": "No budget",
    "no_authority": "No authority to buy",
    "wrong_fit": "Wrong fit",
    "student_or_job_seeker": "Student or job seeker",
    "other": "Other",
}

OUTCOMES: dict[str, str] = {
    LeadState.WON.value: "Won",
    LeadState.LOST.value: "Lost",
    LeadState.DISQUALIFIED.value: "Disqualified",
}

_FINAL_EMOJI = {
    LeadState.WON: ":trophy:",
    LeadState.LOST: ":x:",
    LeadState.DISQUALIFIED: ":no_entry_sign:",
}
# A Slack user ID as it arrives in interaction payloads; anything else is rendered as text, so a
# forged "user ID" cannot smuggle markup such as <!channel> into a mention.
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,20}")
# Emails that can sit inside <mailto:...|...> without breaking the link syntax.
_LINKABLE_EMAIL = re.compile(r"[^\s<>|&@]+@[^\s<>|&@]+")

Block = dict[str, Any]


@dataclass(frozen=True)
class LeadCard:
    """Everything a lead card, DM or Home entry shows; user IDs are Slack IDs like ``U123``."""

    lead_id: int
    profile: LeadProfile
    score: Score
    latest_event: EngagementEvent | None
    arrived_at: datetime
    state: LeadState
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    returned_reason: str | None = None  # a NOT_READY_REASONS code, or free text
    returned_by: str | None = None
    route_reason: str | None = None


# --- text safety -------------------------------------------------------------------------------


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut plain text to at most ``limit`` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def bound_mrkdwn(text: str, limit: int) -> str:
    """Cut already-escaped mrkdwn without splitting an ``&amp;`` entity or a ``<...>`` link."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # In escaped text a bare "&" or "<" only starts an entity or our own markup; if its end fell
    # past the cut, drop the fragment rather than send Slack half a control sequence.
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]
    return cut + ELLIPSIS


def safe(text: str, limit: int) -> str:
    """Escape lead-derived text for mrkdwn and bound it to ``limit`` characters."""
    return bound_mrkdwn(escape_mrkdwn(text), limit)


def mention(user_id: str) -> str:
    """Render a Slack user mention, or the escaped text if it is not a user ID."""
    if _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return safe(user_id, 100)


def format_duration(delta: timedelta) -> str:
    """Human duration: ``less than a minute``, ``3 min``, ``2 h 5 min``, ``4 d``."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours and days < 3 else f"{days} d"


def format_age(then: datetime, now: datetime) -> str:
    if now - then < timedelta(minutes=1):
        return "just now"
    return f"{format_duration(now - then)} ago"


# --- Block Kit atoms ---------------------------------------------------------------------------


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def _md(text: str, limit: int) -> dict[str, Any]:
    # verbatim: Slack must not auto-link URLs or #channels inside lead data; our explicit
    # <@U..> and <mailto:..> markup still renders.
    return {"type": "mrkdwn", "text": bound_mrkdwn(text, limit) or " ", "verbatim": True}


def _header(text: str) -> Block:
    return {"type": "header", "text": _plain(text, HEADER_TEXT_MAX)}


def _section(text: str, **extra: Any) -> Block:
    return {"type": "section", "text": _md(text, SECTION_TEXT_MAX), **extra}


def _fields(pairs: Sequence[tuple[str, str]]) -> Block:
    """A two-column section; ``pairs`` are (label, already-escaped value)."""
    return {
        "type": "section",
        "fields": [_md(f"*{label}*\n{value}", FIELD_TEXT_MAX) for label, value in pairs][
            :MAX_FIELDS
        ],
    }


def _context(*texts: str) -> Block:
    return {"type": "context", "elements": [_md(text, CONTEXT_TEXT_MAX) for text in texts][:10]}


def _button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(text, BUTTON_TEXT_MAX),
        "value": truncate(value, BUTTON_VALUE_MAX),
    }
    if style is not None:
        button["style"] = style
    if confirm is not None:
        button["confirm"] = confirm
    return button


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _plain(label, OPTION_TEXT_MAX), "value": value}


# --- lead pieces -------------------------------------------------------------------------------


def lead_title(profile: LeadProfile, lead_id: int) -> str:
    """The lead's display name as plain text; never the email, which must not reach channels."""
    if profile.full_name.strip():
        return profile.full_name.strip()
    if profile.company:
        return f"Unnamed lead at {profile.company}"
    return f"Unnamed lead #{lead_id}"


def _value(text: str | None, limit: int = 300) -> str:
    return safe(text, limit) if text and text.strip() else "—"


def _size(size: int | None) -> str:
    return f"{size:,} employees" if size is not None else "—"


def _score(score: Score) -> str:
    return f"*{score.points}* / 100 · grade {safe(score.grade, 10)}"


def _reasons(score: Score, count: int) -> str | None:
    reasons = score.top_reasons(count)
    if not reasons:
        return None
    # Each line gets a fair share so one long rule text cannot push the others out.
    share = (SECTION_TEXT_MAX - 40) // len(reasons) - 4
    lines = "\n".join(f"• {safe(str(reason), share)}" for reason in reasons)
    return f"*Why it's hot*\n{lines}"


def _event_line(event: EngagementEvent | None, now: datetime) -> str | None:
    if event is None:
        return None
    what = event.type.replace("_", " ").strip().capitalize() or "Activity"
    detail = next(
        (
            str(event.properties[key])
            for key in ("title", "page", "url", "subject", "form")
            if event.properties.get(key)
        ),
        None,
    )
    text = safe(what, 200)
    if detail:
        text += f": {safe(detail, 500)}"
    return f":eyes: Latest: {text} · {format_age(event.occurred_at, now)}"


def _claimed_line(card: LeadCard) -> str | None:
    if card.claimed_by is None:
        return None
    line = f":raising_hand: Claimed by {mention(card.claimed_by)}"
    if card.claimed_at is not None:
        line += f" — {format_duration(card.claimed_at - card.arrived_at)} after arrival"
    return line


def _reason_label(code: str) -> str:
    return NOT_READY_REASONS.get(code, code)


def _returned_line(card: LeadCard) -> str | None:
    if card.returned_reason is None and card.returned_by is None:
        return None
    line = ":leftwards_arrow_with_hook: Returned to marketing"
    if card.returned_by is not None:
        line += f" by {mention(card.returned_by)}"
    if card.returned_reason:
        line += f": {safe(_reason_label(card.returned_reason), 500)}"
    return line


def _final_line(card: LeadCard) -> str | None:
    if card.state not in FINAL_STATES:
        return None
    return f"{_FINAL_EMOJI[card.state]} *{OUTCOMES[card.state.value]}*"


def _status_lines(card: LeadCard) -> list[str]:
    lines = [_final_line(card), _claimed_line(card)]
    if card.state is LeadState.CONTACTED:
        lines.append(":telephone_receiver: Contacted")
    lines.append(_returned_line(card))
    return [line for line in lines if line]


def _channel_actions(card: LeadCard) -> list[dict[str, Any]]:
    value = str(card.lead_id)
    return [
        _button("Claim", ACTION_CLAIM, value, style="primary"),
        _button("Not ready", ACTION_NOT_READY, value),
    ]


def _release_button(lead_id: str) -> dict[str, Any]:
    return _button(
        "Release",
        ACTION_RELEASE,
        lead_id,
        style="danger",
        confirm={
            "title": _plain("Release this lead?", 100),
            "text": _plain("It goes back to the channel for someone else to claim.", 300),
            "confirm": _plain("Release", 30),
            "deny": _plain("Keep it", 30),
        },
    )


def _owner_actions(card: LeadCard) -> list[dict[str, Any]]:
    lead_id = str(card.lead_id)
    elements: list[dict[str, Any]] = []
    if card.state is LeadState.CLAIMED:
        elements.append(_button("Contacted", ACTION_CONTACTED, lead_id, style="primary"))
    elements += [
        _button("Not ready", ACTION_NOT_READY, lead_id),
        _button("Snooze 1 h", ACTION_SNOOZE_1H, f"{lead_id}:1h"),
        _button("Snooze until tomorrow 9:00", ACTION_SNOOZE_TOMORROW, f"{lead_id}:tomorrow"),
        _release_button(lead_id),
        {
            "type": "static_select",
            "action_id": ACTION_OUTCOME,
            "placeholder": _plain("Outcome…", 150),
            "options": [_option(label, f"{lead_id}:{code}") for code, label in OUTCOMES.items()],
        },
    ]
    return elements


def lead_actions(card: LeadCard) -> list[dict[str, Any]]:
    """The buttons that fit the lead's state: claim it, work it, or none once it is settled."""
    if card.state in OPEN_STATES:
        return _channel_actions(card)
    if card.state in OWNED_STATES:
        return _owner_actions(card)
    return []


def _route_line(card: LeadCard) -> str | None:
    if not card.route_reason:
        return None
    return f":compass: Routed: {safe(card.route_reason, 500)}"


def _fallback(prefix: str, card: LeadCard) -> str:
    profile = card.profile
    parts = [safe(lead_title(profile, card.lead_id), 80)]
    if profile.title and profile.company:
        parts.append(f"{safe(profile.title, 60)} at {safe(profile.company, 60)}")
    elif profile.company:
        parts.append(safe(profile.company, 60))
    text = f"{prefix}: {', '.join(parts)} · score {card.score.points} ({safe(card.score.grade, 5)})"
    return bound_mrkdwn(text, FALLBACK_TEXT_MAX)


# --- builders ----------------------------------------------------------------------------------


def build_lead_card(card: LeadCard, now: datetime) -> dict[str, Any]:
    """The card in a rep channel: no email or phone, buttons only while the lead is open."""
    profile = card.profile
    blocks: list[Block] = [
        _header(lead_title(profile, card.lead_id)),
        _fields(
            [
                ("Title", _value(profile.title)),
                ("Company", _value(profile.company)),
                ("Size", _size(profile.company_size)),
                ("Industry", _value(profile.industry)),
                ("Country", _value(profile.country, 60)),
                ("Source", _value(profile.source)),
                ("Score", _score(card.score)),
            ]
        ),
    ]
    reasons = _reasons(card.score, 3)
    if reasons:
        blocks.append(_section(reasons))
    context = [_event_line(card.latest_event, now), _route_line(card)]
    context.append(f":inbox_tray: Arrived {format_age(card.arrived_at, now)}")
    blocks.append(_context(*[line for line in context if line]))
    status = _status_lines(card)
    if status:
        blocks.append(_context(*status))
    if card.state in OPEN_STATES:
        blocks.append({"type": "actions", "elements": _channel_actions(card)})
    return {"text": _fallback(":fire: Hot lead", card), "blocks": blocks[:MAX_MESSAGE_BLOCKS]}


def _email(email: str) -> str:
    if _LINKABLE_EMAIL.fullmatch(email) and len(email) <= 254:
        return f"<mailto:{email}|{email}>"
    return _value(email)


def build_claim_dm(card: LeadCard, now: datetime) -> dict[str, Any]:
    """The private message to the rep who claimed: the full lead, contact details and next steps."""
    profile = card.profile
    blocks: list[Block] = [
        _header(lead_title(profile, card.lead_id)),
        _fields(
            [
                ("Email", _email(profile.email)),
                ("Phone", _value(profile.phone, 100)),
                ("Title", _value(profile.title)),
                ("Company", _value(profile.company)),
                ("Size", _size(profile.company_size)),
                ("Industry", _value(profile.industry)),
                ("Country", _value(profile.country, 60)),
                ("Website", _value(profile.website)),
                ("Source", _value(profile.source)),
                ("Score", _score(card.score)),
            ]
        ),
    ]
    reasons = _reasons(card.score, 5)
    if reasons:
        blocks.append(_section(reasons))
    if profile.utm:
        utm = ", ".join(f"{safe(k, 50)}={safe(v, 200)}" for k, v in sorted(profile.utm.items()))
        blocks.append(_context(f":label: UTM: {utm}"))
    context = [_event_line(card.latest_event, now), _route_line(card)]
    context.append(f":inbox_tray: Arrived {format_age(card.arrived_at, now)}")
    blocks.append(_context(*[line for line in context if line]))
    status = _status_lines(card)
    if status:
        blocks.append(_context(*status))
    if card.state in OWNED_STATES:
        blocks.append({"type": "actions", "elements": _owner_actions(card)})
    return {"text": _fallback(":raising_hand: Your lead", card), "blocks": blocks}


def build_not_ready_modal(lead_id: int, lead_name: str) -> dict[str, Any]:
    """The "Not ready" modal; the lead id rides in ``private_metadata``."""
    return {
        "type": "modal",
        "callback_id": NOT_READY_CALLBACK_ID,
        "private_metadata": truncate(str(lead_id), PRIVATE_METADATA_MAX),
        "title": _plain("Not ready", 24),
        "submit": _plain("Return to marketing", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            _section(f"Return *{safe(lead_name, 500)}* to marketing for nurturing."),
            {
                "type": "input",
                "block_id": NOT_READY_REASON_BLOCK,
                "label": _plain("Why is this lead not ready?", 2000),
                "element": {
                    "type": "radio_buttons",
                    "action_id": NOT_READY_REASON_BLOCK,
                    "options": [_option(label, code) for code, label in NOT_READY_REASONS.items()],
                },
            },
            {
                "type": "input",
                "block_id": NOT_READY_NOTE_BLOCK,
                "optional": True,
                "label": _plain("Note for marketing", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": NOT_READY_NOTE_BLOCK,
                    "multiline": True,
                    "max_length": NOTE_MAX,
                },
            },
            {
                "type": "input",
                "block_id": NOT_READY_RECONTACT_BLOCK,
                "optional": True,
                "label": _plain("Recontact after", 2000),
                "element": {"type": "datepicker", "action_id": NOT_READY_RECONTACT_BLOCK},
            },
        ],
    }


def build_not_ready_retry(lead_id: int, lead_name: str) -> dict[str, Any]:
    """When the modal could not open (Slack's trigger expired): one button that opens it again,
    so the rep can still return the lead. Same action as the card's button."""
    text = (
        f"The form to return *{safe(lead_name, 500)}* did not open in time (Slack allows 3 "
        "seconds). Nothing was changed. Press the button to open it again."
    )
    return {
        "text": truncate(
            f"The form to return {lead_name} did not open in time.", FALLBACK_TEXT_MAX
        ),
        "blocks": [
            _section(text),
            {
                "type": "actions",
                "block_id": "not_ready_retry",
                "elements": [_button("Not ready…", ACTION_NOT_READY, str(lead_id))],
            },
        ],
    }


def build_marketing_return_message(
    card: LeadCard,
    reason_code: str,
    note: str | None,
    recontact_after: date | None,
    returned_by: str,
) -> dict[str, Any]:
    """The notice in the marketing channel when sales hands a lead back; no email or phone."""
    profile = card.profile
    reason = safe(_reason_label(reason_code), 500)
    blocks: list[Block] = [
        _section(
            f":leftwards_arrow_with_hook: *{safe(lead_title(profile, card.lead_id), 300)}* "
            f"returned to marketing by {mention(returned_by)}: {reason}"
        ),
        _fields(
            [
                ("Title", _value(profile.title)),
                ("Company", _value(profile.company)),
                ("Source", _value(profile.source)),
                ("Score", _score(card.score)),
                ("Reason", reason),
                ("Recontact after", recontact_after.isoformat() if recontact_after else "—"),
            ]
        ),
    ]
    if note and note.strip():
        blocks.append(_section(f"*Note*\n{safe(note.strip(), SECTION_TEXT_MAX - 20)}"))
    blocks.append(_context(f"Lead #{card.lead_id}"))
    return {"text": _fallback(":leftwards_arrow_with_hook: Returned", card), "blocks": blocks}


def _slack_date(moment: datetime) -> str:
    """A timestamp Slack renders in the reader's own timezone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def build_app_home(
    open_leads: Sequence[LeadCard], now: datetime, paused_until: datetime | None
) -> dict[str, Any]:
    """The rep's Home tab: pause switch and open leads, cut to fit Slack's 100-block limit."""
    if paused_until is not None:
        pause = _section(
            f":double_vertical_bar: New leads are paused until {_slack_date(paused_until)}.",
            accessory=_button("Resume", ACTION_RESUME, "resume", style="primary"),
        )
    else:
        pause = _section(
            ":large_green_circle: You are receiving new leads.",
            accessory=_button("Pause", ACTION_PAUSE, "pause"),
        )
    blocks: list[Block] = [_header("Your open leads"), pause, {"type": "divider"}]
    if not open_leads:
        blocks.append(_section("No open leads right now. New ones appear in your channel."))
        return {"type": "home", "blocks": blocks}

    per_lead = 3  # summary section, actions, divider
    room = MAX_VIEW_BLOCKS - len(blocks)
    shown = len(open_leads) if len(open_leads) * per_lead <= room else (room - 1) // per_lead
    for card in open_leads[:shown]:
        profile = card.profile
        summary = f"*{safe(lead_title(profile, card.lead_id), 300)}*"
        if profile.title or profile.company:
            who = " at ".join(safe(p, 300) for p in (profile.title, profile.company) if p)
            summary += f"\n{who}"
        summary += (
            f"\nScore {card.score.points} ({safe(card.score.grade, 5)})"
            f" · arrived {format_age(card.arrived_at, now)}"
        )
        status = _status_lines(card)
        if status:
            summary += "\n" + " · ".join(status)
        blocks.append(_section(summary))
        actions = lead_actions(card)
        if actions:
            blocks.append({"type": "actions", "elements": actions})
        blocks.append({"type": "divider"})
    hidden = len(open_leads) - shown
    if hidden:
        blocks.append(_context(f"…and {hidden} more. Work through the ones above first."))
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


def build_ephemeral_text(text: str) -> dict[str, Any]:
    """A one-line ephemeral reply; the text is escaped, so pass no markup."""
    escaped = safe(text, SECTION_TEXT_MAX)
    return {"text": escaped, "blocks": [_section(escaped)]}


def build_notice(mrkdwn: str) -> dict[str, Any]:
    """A short reply composed by us: mentions from ``mention()`` stay live, so any lead-derived
    part must already have gone through ``safe()``. Bounded like everything else."""
    text = bound_mrkdwn(mrkdwn, SECTION_TEXT_MAX)
    return {"text": truncate(mrkdwn, FALLBACK_TEXT_MAX), "blocks": [_section(text)]}


# --- SLA nudges and escalations ----------------------------------------------------------------

_SUBTEAM_ID = re.compile(r"S[A-Z0-9]{1,20}")


def subteam_mention(group_id: str) -> str:
    """A user-group mention (``<!subteam^S…>``), or the escaped text if it is not a group ID."""
    if _SUBTEAM_ID.fullmatch(group_id):
        return f"<!subteam^{group_id}>"
    return safe(group_id, 100)


def _people(user_ids: Sequence[str]) -> str:
    return ", ".join(mention(user_id) for user_id in user_ids)


def _nudge_message(fallback: str, lines: Sequence[str], reason: str) -> dict[str, Any]:
    text = "\n".join(lines)
    return {
        "text": bound_mrkdwn(fallback, FALLBACK_TEXT_MAX),
        "blocks": [_section(text), _context(f":stopwatch: {safe(reason, 500)}")],
    }


def build_unclaimed_nudge(card: LeadCard, reason: str, group: str | None) -> dict[str, Any]:
    """The thread reply under a card nobody claimed yet."""
    title = safe(lead_title(card.profile, card.lead_id), 300)
    who = f"{subteam_mention(group)} " if group else ""
    line = f":alarm_clock: {who}*{title}* is still unclaimed. Can someone take it?"
    return _nudge_message(f"Still unclaimed: {title}", [line], reason)


def build_unclaimed_escalation(
    card: LeadCard,
    reason: str,
    managers: Sequence[str],
    *,
    assigned_to: str | None,
    fallback_tried: bool,
    overflow_channel: str | None,
) -> dict[str, Any]:
    """Tells the manager(s) a lead is still unclaimed, and what the bot did about it."""
    title = safe(lead_title(card.profile, card.lead_id), 300)
    who = f"{_people(managers)}: " if managers else ""
    lines = [f":rotating_light: {who}*{title}* is still unclaimed."]
    if assigned_to:
        lines.append(f":arrow_right: Assigned to {mention(assigned_to)} by round robin.")
    elif fallback_tried:
        lines.append(":warning: No rep is available for fallback assignment.")
    if overflow_channel:
        lines.append(f":loudspeaker: Re-posted to <#{safe(overflow_channel, 100)}>.")
    return _nudge_message(f"Escalation: {title} is still unclaimed", lines, reason)


def build_uncontacted_nudge(card: LeadCard, reason: str) -> dict[str, Any]:
    """The DM to a rep who claimed a lead and has not recorded a first touch."""
    title = safe(lead_title(card.profile, card.lead_id), 300)
    lead_id = str(card.lead_id)
    message = _nudge_message(
        f"Reminder: contact {title}",
        [f":wave: You claimed *{title}* and have not contacted them yet. Done, or not ready?"],
        reason,
    )
    release = _release_button(lead_id)
    message["blocks"].append(
        {
            "type": "actions",
            "elements": [
                _button("Contacted", ACTION_CONTACTED, lead_id, style="primary"),
                _button("Not ready", ACTION_NOT_READY, lead_id),
                release,
            ],
        }
    )
    return message


def build_uncontacted_escalation(
    card: LeadCard, reason: str, claimer: str, managers: Sequence[str], *, released: bool
) -> dict[str, Any]:
    """Tells the manager(s) a claimed lead has not been contacted."""
    title = safe(lead_title(card.profile, card.lead_id), 300)
    who = f"{_people(managers)}: " if managers else ""
    lines = [
        f":rotating_light: {who}{mention(claimer)} claimed *{title}* "
        "and has not contacted them yet."
    ]
    if released:
        lines.append(":leftwards_arrow_with_hook: The lead goes back to the channel for a claim.")
    return _nudge_message(f"Escalation: {title} not contacted", lines, reason)


def build_owner_deactivated_note(card: LeadCard, user_id: str) -> dict[str, Any]:
    """The thread note when a lead goes back to the channel because its owner left Slack."""
    title = safe(lead_title(card.profile, card.lead_id), 300)
    text = (
        f":bust_in_silhouette: {mention(user_id)}'s Slack account was deactivated, so "
        f"*{title}* is back in the channel. Claim it below."
    )
    return {
        "text": bound_mrkdwn(f"Back in the channel: {title}", FALLBACK_TEXT_MAX),
        "blocks": [_section(text)],
    }


def build_recontact_note(card: LeadCard) -> dict[str, Any]:
    """The note to marketing when a returned lead's recontact date arrives."""
    title = safe(lead_title(card.profile, card.lead_id), 300)
    text = (
        f":calendar: The recontact date for *{title}* has come: its cooldown is over and it is "
        "being scored again. It goes to sales if it is hot."
    )
    blocks = [_section(text), _context(f"Lead #{card.lead_id}")]
    return {"text": bound_mrkdwn(f"Recontact due: {title}", FALLBACK_TEXT_MAX), "blocks": blocks}


def build_released_dm(
    card: LeadCard, released_by: str | None, new_owner: str | None = None
) -> dict[str, Any]:
    """A former owner's DM once the lead left them: what happened, and no owner controls.
    ``released_by`` None means the bot released it; ``new_owner`` set means it was reassigned."""
    title = safe(lead_title(card.profile, card.lead_id), 300)
    if new_owner is not None:
        why = f"reassigned to {mention(new_owner)}"
    elif released_by is not None:
        why = f"released by {mention(released_by)}; it is back in the channel"
    else:
        why = "it went back to the channel"
    text = f":leftwards_arrow_with_hook: *{title}* is no longer yours: {why}."
    return {
        "text": bound_mrkdwn(f"No longer yours: {title}", FALLBACK_TEXT_MAX),
        "blocks": [_section(text), _context(f"Lead #{card.lead_id}")],
    }


# --- Erasure -------------------------------------------------------------------------------------


def build_erased_message(channel: str, ts: str, lead_id: int) -> dict[str, Any]:
    """chat.update arguments that replace a lead's card or DM once the person is erased."""
    text = f":wastebasket: Lead #{lead_id}: personal data erased on request. Nothing to do here."
    return {"channel": channel, "ts": ts, "text": text, "blocks": [_section(text)]}
