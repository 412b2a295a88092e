"""Identifiers as they arrive from people and Slack: parsed strictly, or refused. Pure."""

from __future__ import annotations

import re

BIGINT_MAX = 2**63 - 1  # lead ids are BIGINT on both databases
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
# Slack user IDs start with U or W, channels with C, G or D, user groups with S; the rest is
# upper-case letters and digits (https://api.slack.com/changelog/2016-08-11-user-id-format).
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,20}")
SLACK_USERGROUP_ID = re.compile(r"S[A-Z0-9]{2,20}")


def parse_lead_id(text: str) -> int | None:
    """A lead id from a button value or command word: ASCII digits only (`²` and `١` are
    digits to Python, not to us), and within BIGINT. None for anything else."""
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= BIGINT_MAX else None


def slack_id_problem(value: str, kind: str) -> str | None:
    """Why ``value`` cannot be a Slack ID of ``kind`` ("user", "channel", "usergroup")."""
    pattern = {"user": SLACK_USER_ID, "channel": SLACK_CHANNEL_ID, "usergroup": SLACK_USERGROUP_ID}
    if pattern[kind].fullmatch(value):
        return None
    examples = {"user": "U0123ABCD", "channel": "C0123ABCD", "usergroup": "S0123ABCD"}
    hint = " (a name, not an ID)" if value.startswith(("@", "#")) or value.islower() else ""
    return f"{value!r} is not a Slack {kind} ID{hint}: expected something like {examples[kind]}"
