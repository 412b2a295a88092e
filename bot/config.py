"""Configuration: the only reader of os.environ and handoff.yml. Typed, validated, fail-fast."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain.durations import Duration
from bot.domain.hubspot_mapping import CrmConfig
from bot.domain.lifecycle_events import MARKETING_SUBSCRIPTION, WebhookSubscription
from bot.domain.routing import RoutingConfig
from bot.domain.sla import BusinessHours, Day, WallTime
from bot.scoring import ScoringRules

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite://handoff.sqlite3"
DEFAULT_HUBSPOT_API_URL = "https://api.hubapi.com"
EXAMPLE_CONFIG = Path(__file__).with_name("handoff.example.yml")


class ConfigError(Exception):
    """A configuration problem, already phrased for the operator (key path, value, expected)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarketingConfig(_Strict):
    channel: str | None = Field(default=None, description="Slack channel for returned leads")
    webhook_url: str | None = Field(default=None, description="receives signed lead.returned")


class ReturnsConfig(_Strict):
    cooldown: Duration = timedelta(days=14)
    strong_signals: list[str] = Field(default_factory=lambda: ["meeting_booked"])


class ClaimLimits(_Strict):
    max_open_claims: int | None = Field(default=None, ge=1)
    max_claims_per_day: int | None = Field(default=None, ge=1)


class SlaPolicy(_Strict):
    """Timers for untouched leads; every one is optional (off when missing)."""

    nudge_unclaimed_after: Duration | None = timedelta(minutes=15)
    escalate_unclaimed_after: Duration | None = timedelta(minutes=60)
    nudge_uncontacted_after: Duration | None = timedelta(hours=2)
    escalate_uncontacted_after: Duration | None = timedelta(hours=8)
    mention: str | None = Field(default=None, description="user group to mention, e.g. S0123")
    overflow_channel: str | None = None
    fallback_assign: bool = False
    release_when_uncontacted: bool = False


class SlaOverrides(_Strict):
    nudge_unclaimed_after: Duration | None = None
    escalate_unclaimed_after: Duration | None = None
    nudge_uncontacted_after: Duration | None = None
    escalate_uncontacted_after: Duration | None = None
    mention: str | None = None
    overflow_channel: str | None = None
    fallback_assign: bool | None = None
    release_when_uncontacted: bool | None = None


class ChannelConfig(_Strict):
    manager: str | None = Field(default=None, description="Slack user ID of the manager")
    reps: dict[str, int] = Field(default_factory=dict, description="rep user ID -> weight")
    business_hours: BusinessHours | None = None
    sla: SlaOverrides = Field(default_factory=SlaOverrides)


class ReportsConfig(_Strict):
    """Weekly digests: the managers' report with a chart, and the returns digest for marketing
    (to `marketing.channel`). Sent on `digest_day` at `digest_time` in the business-hours zone."""

    managers_channel: str | None = None
    digest_day: Day = "mon"
    digest_time: WallTime = time(8, 0)
    returns_digest: bool = True


class HandoffConfig(_Strict):
    hot_threshold: int = Field(default=60, ge=1, le=100)
    scoring: ScoringRules = Field(default_factory=ScoringRules)
    routing: RoutingConfig
    marketing: MarketingConfig = Field(default_factory=MarketingConfig)
    returns: ReturnsConfig = Field(default_factory=ReturnsConfig)
    managers: list[str] = Field(default_factory=list)
    manager_group: str | None = None
    claims: ClaimLimits = Field(default_factory=ClaimLimits)
    sla: SlaPolicy = Field(default_factory=SlaPolicy)
    business_hours: BusinessHours | None = None
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    event_window: Duration = timedelta(days=90)
    sweep_every: Duration = timedelta(seconds=30)  # how often SLA timers are checked
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    webhooks: list[WebhookSubscription] = Field(default_factory=list)
    crm: CrmConfig = Field(default_factory=CrmConfig)

    @field_validator("webhooks")
    @classmethod
    def _unique_subscriptions(cls, value: list[WebhookSubscription]) -> list[WebhookSubscription]:
        names = [s.name for s in value]
        if MARKETING_SUBSCRIPTION in names:
            raise ValueError(f"{MARKETING_SUBSCRIPTION!r} is marketing.webhook_url; pick another")
        if len(set(names)) != len(names):
            raise ValueError(f"subscription names must be unique (got {names})")
        return value


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        path = _key_path(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling against handoff.example.yml)"
        elif err["type"] == "missing":
            message = "required key is missing"
        got = "" if err["type"] == "missing" else f" (got {_describe(err['input'])})"
        lines.append(f"  {path}: {message}{got}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "handoff.yml") -> HandoffConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        return HandoffConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(path: Path) -> HandoffConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, str(path))


@dataclass(frozen=True)
class Settings:
    """Secrets and endpoints, from the environment."""

    slack_bot_token: str | None
    slack_signing_secret: str | None
    slack_app_token: str | None
    slack_api_url: str
    database_url: str
    webhook_secret: str | None
    config_path: Path
    host: str
    port: int
    hubspot_access_token: str | None = None
    hubspot_api_url: str = DEFAULT_HUBSPOT_API_URL
    # Signing secrets of the `webhooks:` subscriptions, by env var name (see `read_secrets`).
    subscription_secrets: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        port_text = env.get("PORT", "3000")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"PORT: expected a TCP port number, got {port_text!r}")
        api_url = env.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
        return cls(
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_api_url=api_url if api_url.endswith("/") else api_url + "/",
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            webhook_secret=env.get("HANDOFF_WEBHOOK_SECRET") or None,
            config_path=Path(env.get("HANDOFF_CONFIG") or "handoff.yml"),
            host=env.get("HOST", "0.0.0.0"),  # noqa: S104 - a server is meant to be reachable
            port=int(port_text),
            hubspot_access_token=env.get("HUBSPOT_ACCESS_TOKEN") or None,
            hubspot_api_url=(env.get("HUBSPOT_API_URL") or DEFAULT_HUBSPOT_API_URL).rstrip("/"),
            subscription_secrets={
                name: value for name, value in env.items() if name.endswith("_SECRET") and value
            },
        )


def subscription_secrets(config: HandoffConfig, settings: Settings) -> dict[str, str]:
    """Each `webhooks:` subscription's secret by subscription name; fails naming the env var."""
    secrets: dict[str, str] = {}
    missing = []
    for subscription in config.webhooks:
        value = settings.subscription_secrets.get(subscription.secret_env)
        if value:
            secrets[subscription.name] = value
        else:
            missing.append(f"{subscription.secret_env} (webhooks: {subscription.name})")
    if missing:
        raise ConfigError("signing secret not set in the environment: " + ", ".join(missing))
    return secrets


def hubspot_enabled(config: HandoffConfig, settings: Settings) -> bool:
    hubspot = config.crm.hubspot
    if hubspot is None or not hubspot.enabled:
        return False
    if not settings.hubspot_access_token:
        raise ConfigError("HUBSPOT_ACCESS_TOKEN: required by crm.hubspot in handoff.yml")
    return True
