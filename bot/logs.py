"""Logging: level and format from settings, a request id on every line, personal data masked.

- ``LOG_FORMAT=text`` (default) or ``json`` (one object per line: time, level, logger, message,
  request_id, and the traceback when there is one).
- Every line logged while an HTTP request is handled carries that request's id (the caller's
  ``X-Request-Id`` when it sends a sane one, else a new one; echoed in the response).
- Emails and phone numbers are masked in every message, whoever logs it.
- Third-party noise: APScheduler's per-run lines and Bolt's "token will be unused" warning.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
from datetime import UTC, datetime

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "handoff_request_id", default=None
)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}")
# A phone: "+", "(" or a digit, then at least 7 more digits with spaces, dots, dashes or
# parentheses between them. ISO dates and Slack message timestamps (1700000000.000100) are not
# phones; a bare run of 8+ digits is treated as one (ids that long are masked too: safe side).
_PHONE = re.compile(
    r"(?<![\w.:/-])(?!\d{4}-\d{2}-\d{2})(?!\d{9,10}\.\d{6})"
    r"(?:\+|\()?\d(?:[\s().-]{0,2}\d){7,}(?![\w:/-]|\.\d)"
)


def mask_personal_data(text: str) -> str:
    """``ana@acme.io`` -> ``a***@***``, ``+34 600 000 000`` -> ``+34***``."""
    text = _EMAIL.sub(lambda m: f"{m[1]}***@***", text)
    return _PHONE.sub(lambda m: m[0][:3] + "***", text)


def current_request_id() -> str | None:
    return _request_id.get()


class _ContextFilter(logging.Filter):
    """Adds the request id and masks personal data; runs once per record, on the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class _DropBoltTokenWarning(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN itself and warns that it is unused next to our explicit client.
    def filter(self, record: logging.LogRecord) -> bool:
        return "will be unused" not in str(record.msg)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key in ("lead_id", "from_state", "to_state", "actor", "action"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exception"] = mask_personal_data(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Replace the root handlers with one stream handler in the chosen format."""
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_third_parties()


def quiet_third_parties() -> None:
    # "Running job ...", "Job ... executed successfully", "Added job ...": twice a sweep.
    for name in ("apscheduler.executors.default", "apscheduler.scheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
    bolt = logging.getLogger("slack_bolt")
    if not any(isinstance(f, _DropBoltTokenWarning) for f in bolt.filters):
        bolt.addFilter(_DropBoltTokenWarning())
    for name in ("slack_bolt.AsyncApp", "slack_bolt.App"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropBoltTokenWarning) for f in logger.filters):
            logger.addFilter(_DropBoltTokenWarning())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # ~12 % of the loop at INFO


def bind_request_id(given: str | None) -> tuple[str, contextvars.Token[str | None]]:
    """Use the caller's id when it is sane, else a new one; returns it and a reset token."""
    # Only needs to be unique enough to find a request's lines, not unguessable: no
    # os.urandom call per request (uuid4's), which showed up on the ack path of a storm.
    request_id = given if given and _SANE_ID.match(given) else f"{random.getrandbits(64):016x}"
    return request_id, _request_id.set(request_id)


def unbind_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)


_transitions_log = logging.getLogger("bot.transitions")


def log_transition(
    lead_id: int, from_state: str | None, to_state: str, actor: str, action: str
) -> None:
    """One INFO line per lead state change; a change of fields only is DEBUG."""
    level = logging.INFO if from_state != to_state else logging.DEBUG
    _transitions_log.log(
        level,
        "lead %s %s -> %s by %s (%s)",
        lead_id,
        from_state or "new",
        to_state,
        actor,
        action,
        extra={
            "lead_id": lead_id,
            "from_state": from_state,
            "to_state": to_state,
            "actor": actor,
            "action": action,
        },
    )
