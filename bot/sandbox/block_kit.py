"""Block Kit validation as Slack does it: slack_sdk's models plus the documented limits."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
TEXT_OBJECT_MAX = 3000
HEADER_TEXT_MAX = 150
FIELD_TEXT_MAX = 2000
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
CONTEXT_TEXT_MAX = 2000  # conservative: Slack documents none, and long context text is cut off
ACTION_ID_MAX = 255
PRIVATE_METADATA_MAX = 3000


def _decode(value: Any) -> Any:
    """Blocks and views arrive as JSON strings in form posts and as lists/dicts in JSON posts."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _lost_keys(original: Any, round_trip: Any, path: str) -> list[str]:
    """Keys slack_sdk dropped while parsing: unknown, misspelt, null or empty values."""
    if isinstance(original, Mapping):
        if not isinstance(round_trip, Mapping):
            return [path]
        lost = []
        for key, value in original.items():
            if key not in round_trip:
                lost.append(f"{path}.{key}")
            else:
                lost += _lost_keys(value, round_trip[key], f"{path}.{key}")
        return lost
    if isinstance(original, list | tuple):
        if not isinstance(round_trip, list | tuple) or len(original) != len(round_trip):
            return [path]
        return [
            problem
            for index, (a, b) in enumerate(zip(original, round_trip, strict=True))
            for problem in _lost_keys(a, b, f"{path}[{index}]")
        ]
    return []


def _text_objects(node: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(node, Mapping):
        if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
            yield path, node
        for key, value in node.items():
            yield from _text_objects(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _text_objects(item, f"{path}[{index}]")


def _interactive_elements(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    elements = [e for e in block.get("elements") or [] if isinstance(e, Mapping)]
    for key in ("accessory", "element"):
        if isinstance(block.get(key), Mapping):
            elements.append(block[key])
    return elements


def _limit_problems(block: Mapping[str, Any], path: str) -> list[str]:
    """Documented limits slack_sdk's models do not check."""
    problems = []
    for where, text_object in _text_objects(block, path):
        text = text_object["text"]
        if not isinstance(text, str) or not text:
            problems.append(f"{where}: text must be a non-empty string")
        elif len(text) > TEXT_OBJECT_MAX:
            problems.append(f"{where}: text longer than {TEXT_OBJECT_MAX}")
    kind = block.get("type")
    if kind == "header":
        text = block.get("text", {}).get("text", "")
        if len(text) > HEADER_TEXT_MAX:
            problems.append(f"{path}.text: header longer than {HEADER_TEXT_MAX}")
    if kind == "section":
        fields = block.get("fields") or []
        if len(fields) > MAX_FIELDS:
            problems.append(f"{path}.fields: more than {MAX_FIELDS}")
        for index, field in enumerate(fields):
            if len(str(field.get("text", ""))) > FIELD_TEXT_MAX:
                problems.append(f"{path}.fields[{index}]: text longer than {FIELD_TEXT_MAX}")
    if kind == "context":
        elements = block.get("elements") or []
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            problems.append(f"{path}.elements: more than {MAX_CONTEXT_ELEMENTS}")
        for index, element in enumerate(elements):
            if len(str(element.get("text", ""))) > CONTEXT_TEXT_MAX:
                problems.append(f"{path}.elements[{index}]: text longer than {CONTEXT_TEXT_MAX}")
    action_ids: set[str] = set()
    for element in _interactive_elements(block):
        action_id = element.get("action_id")
        if action_id is None:
            continue
        if len(str(action_id)) > ACTION_ID_MAX:
            problems.append(f"{path}: action_id longer than {ACTION_ID_MAX}")
        if action_id in action_ids:
            problems.append(f"{path}: duplicate action_id {action_id!r} in one block")
        action_ids.add(action_id)
    return problems


def validate_blocks(blocks: Any, *, max_blocks: int, path: str = "blocks") -> list[str]:
    """Every reason Slack would answer ``invalid_blocks``; an empty list means valid."""
    blocks = _decode(blocks)
    if not isinstance(blocks, list):
        return [f"{path}: must be a JSON array, got {type(blocks).__name__}"]
    problems = []
    if len(blocks) > max_blocks:
        problems.append(f"{path}: {len(blocks)} blocks, more than {max_blocks}")
    block_ids: set[str] = set()
    for index, raw in enumerate(blocks):
        where = f"{path}[{index}]"
        if not isinstance(raw, Mapping) or "type" not in raw:
            problems.append(f"{where}: not a block object")
            continue
        parsed = Block.parse(dict(raw))
        if parsed is None:
            problems.append(f"{where}: unknown block type {raw['type']!r}")
            continue
        try:
            round_trip = parsed.to_dict()  # to_dict() runs every model's validators, recursively
        except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        problems += [f"{key}: unknown, null or empty" for key in _lost_keys(raw, round_trip, where)]
        problems += _limit_problems(raw, where)
        block_id = raw.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                problems.append(f"{where}: duplicate block_id {block_id!r}")
            block_ids.add(block_id)
    return problems


def validate_message(payload: Mapping[str, Any]) -> list[str]:
    """Validate a chat.postMessage / chat.update / chat.postEphemeral body (or a builder's dict)."""
    problems = []
    text = payload.get("text")
    if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
        problems.append(f"text: longer than {MAX_MESSAGE_TEXT}")
    if "blocks" in payload:
        problems += validate_blocks(payload["blocks"], max_blocks=MAX_MESSAGE_BLOCKS)
    return problems


def validate_view(view: Any) -> list[str]:
    """Validate a modal or Home tab as sent to views.open / views.update / views.publish."""
    view = _decode(view)
    if not isinstance(view, Mapping):
        return [f"view: must be a JSON object, got {type(view).__name__}"]
    problems = []
    shell = {k: v for k, v in view.items() if k != "blocks"}
    try:
        # The blocks are checked below with better paths; a placeholder keeps View's own
        # "1 to 100 blocks" rule from firing on the shell.
        round_trip = View(**shell, blocks=[{"type": "divider"}]).to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as exc:
        return [f"view: {exc}"]
    problems += [f"{key}: unknown, null or empty" for key in _lost_keys(shell, round_trip, "view")]
    if "blocks" not in view:
        problems.append("view.blocks: missing")
    else:
        problems += validate_blocks(view["blocks"], max_blocks=MAX_VIEW_BLOCKS, path="view.blocks")
    blocks = _decode(view.get("blocks")) or []
    if view.get("type") == "modal":
        if "title" not in view:
            problems.append("view.title: a modal needs a title")
        has_inputs = isinstance(blocks, list) and any(
            isinstance(b, Mapping) and b.get("type") == "input" for b in blocks
        )
        if has_inputs and "submit" not in view:
            problems.append("view.submit: a modal with input blocks needs a submit button")
    if (
        view.get("type") == "home"
        and isinstance(blocks, list)
        and any(isinstance(b, Mapping) and b.get("type") == "input" for b in blocks)
    ):
        problems.append("view.blocks: a Home tab cannot hold input blocks")
    return problems
