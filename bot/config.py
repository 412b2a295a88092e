"""Configuration: the only reader of os.environ and handoff.yml. Typed, validated, fail-fast."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain.durations import Duration, compact_duration
from bot.domain.hubspot_mapping import CrmConfig
from bot.domain.identifiers import slack_id_problem
from bot.domain.lifecycle_events import MARKETING_SUBSCRIPTION, WebhookSubscription
from bot.domain.routing import RoutingConfig
from bot.domain.sla import BusinessHours, Day, WallTime
from bot.scoring import ScoringRules
from bot.sources.mapping import SOURCE_NAME, check_target

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite://handoff.sqlite3"
DEFAULT_HUBSPOT_API_URL = "https://api.hubapi.com"
EXAMPLE_CONFIG = Path(__file__).with_name("handoff.example.yml")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


class ConfigError(Exception):
    """A configuration problem, already phrased for the operator (key path, value, expected)."""


class StartupError(Exception):
    """The server cannot start (port taken, database missing, ...): one line for the operator."""


def _slack_id(kind: str) -> AfterValidator:
    def check(value: str) -> str:
        problem = slack_id_problem(value, kind)
        if problem is not None:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


# People and groups are named by ID in handoff.yml: a name ("@maria", "ana") matches nobody and
# would silently make no one a manager or rep.
SlackUserId = Annotated[str, _slack_id("user")]
SlackUserGroupId = Annotated[str, _slack_id("usergroup")]


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
    mention: SlackUserGroupId | None = Field(
        default=None, description="user group to mention, e.g. S0123"
    )
    overflow_channel: str | None = None
    fallback_assign: bool = False
    release_when_uncontacted: bool = False


class SlaOverrides(_Strict):
    nudge_unclaimed_after: Duration | None = None
    escalate_unclaimed_after: Duration | None = None
    nudge_uncontacted_after: Duration | None = None
    escalate_uncontacted_after: Duration | None = None
    mention: SlackUserGroupId | None = None
    overflow_channel: str | None = None
    fallback_assign: bool | None = None
    release_when_uncontacted: bool | None = None


class ChannelConfig(_Strict):
    manager: SlackUserId | None = Field(default=None, description="Slack user ID of the manager")
    reps: dict[SlackUserId, int] = Field(default_factory=dict, description="rep user ID -> weight")
    business_hours: BusinessHours | None = None
    sla: SlaOverrides = Field(default_factory=SlaOverrides)


class ReportsConfig(_Strict):
    """Weekly digests: the managers' report with a chart, and the returns digest for marketing
    (to `marketing.channel`). Sent on `digest_day` at `digest_time` in the business-hours zone."""

    managers_channel: str | None = None
    digest_day: Day = "mon"
    digest_time: WallTime = time(8, 0)
    returns_digest: bool = True


class RetentionConfig(_Strict):
    """Raw webhook bodies and Slack event receipts are pruned after ``days``; leads, their
    history and every count are kept."""

    days: int = Field(default=90, ge=1, le=36500)


# --- Lead sources: HubSpot, Typeform, website forms, bearer tokens for no-code tools ----------
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
MIN_TOKEN_LENGTH = 16


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("expected lower-case letters, digits, '-' or '_' (at most 40)")
    return value


def _check_source_name(value: str) -> str:
    if not SOURCE_NAME.match(value):
        raise ValueError("expected a short lower-case name such as 'webinar' or 'form:demo'")
    return value


def _check_token(value: str) -> str:
    if len(value) < MIN_TOKEN_LENGTH or value != value.strip():
        raise ValueError(
            f"a token needs at least {MIN_TOKEN_LENGTH} characters and no surrounding spaces "
            "(e.g. `openssl rand -hex 24`)"
        )
    return value


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ValueError("expected an http(s):// URL")
    return value


def _check_origin(value: str) -> str:
    if not _ORIGIN.match(value):
        raise ValueError("expected an origin like https://www.example.com (no path, no slash)")
    return value


LeadTarget = Annotated[str, AfterValidator(check_target)]
SourceName = Annotated[str, AfterValidator(_check_source_name)]
Token = Annotated[str, AfterValidator(_check_token)]
Url = Annotated[str, AfterValidator(_check_url)]
Origin = Annotated[str, AfterValidator(_check_origin)]


class HubSpotSource(_Strict):
    """`POST /webhooks/hubspot`, keyed by HUBSPOT_CLIENT_SECRET."""

    source: SourceName = "hubspot"
    # HubSpot contact property -> lead field, added to (or replacing) the built-in ones.
    properties: dict[str, LeadTarget] = Field(default_factory=dict)


class TypeformForm(_Strict):
    fields: dict[str, LeadTarget] = Field(default_factory=dict, description="field ref -> lead")
    hidden: dict[str, LeadTarget] = Field(default_factory=dict, description="hidden -> lead")
    source: SourceName | None = None


class TypeformSource(_Strict):
    """`POST /webhooks/typeform`, verified with TYPEFORM_SECRET."""

    source: SourceName = "typeform"
    forms: dict[str, TypeformForm] = Field(default_factory=dict)


class FormRateLimit(_Strict):
    requests: int = Field(default=10, ge=1)
    per: Duration = timedelta(minutes=1)


class WebForm(_Strict):
    """`POST /webhooks/forms/<form_id>`: an HTML form or a form plugin on the website."""

    token: Token
    fields: dict[str, LeadTarget] = Field(default_factory=dict, description="form field -> lead")
    redirect_url: Url | None = None
    allowed_origins: list[Origin] = Field(default_factory=list)
    honeypot: str | None = None
    timestamp_field: str | None = None
    min_fill_time: Duration = timedelta(seconds=3)
    rate_limit: FormRateLimit = Field(default_factory=FormRateLimit)
    source: SourceName | None = None


class SourcesConfig(_Strict):
    tokens: dict[Annotated[str, AfterValidator(_check_name)], Token] = Field(default_factory=dict)
    hubspot: HubSpotSource = Field(default_factory=HubSpotSource)
    typeform: TypeformSource = Field(default_factory=TypeformSource)
    forms: dict[Annotated[str, AfterValidator(_check_name)], WebForm] = Field(default_factory=dict)
    # Behind a reverse proxy every form post comes from the proxy's address; with this on, the
    # per-IP rate limit uses the address the proxy saw (the last X-Forwarded-For entry).
    trust_forwarded_for: bool = False

    @field_validator("tokens")
    @classmethod
    def _distinct_tokens(cls, tokens: dict[str, str]) -> dict[str, str]:
        if len(set(tokens.values())) != len(tokens):
            raise ValueError("two names share one token: the source could not be told apart")
        return tokens


class HandoffConfig(_Strict):
    hot_threshold: int = Field(default=60, ge=1, le=100)
    scoring: ScoringRules = Field(default_factory=ScoringRules)
    routing: RoutingConfig
    marketing: MarketingConfig = Field(default_factory=MarketingConfig)
    returns: ReturnsConfig = Field(default_factory=ReturnsConfig)
    managers: list[SlackUserId] = Field(default_factory=list)
    manager_group: SlackUserGroupId | None = None
    claims: ClaimLimits = Field(default_factory=ClaimLimits)
    sla: SlaPolicy = Field(default_factory=SlaPolicy)
    business_hours: BusinessHours | None = None
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    event_window: Duration = timedelta(days=90)
    sweep_every: Duration = timedelta(seconds=30)  # how often SLA timers are checked
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
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
        if part == "[key]":  # pydantic's marker for a bad mapping key: the key is the path
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line for one problem; a heading and a line per problem for several."""
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
    if len(lines) == 2:
        return f"{source}: {lines[1].strip()}"
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


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in {"", "0", "false", "no", "off"}:
        return False
    if value in {"1", "true", "yes", "on"}:
        return True
    raise ConfigError(f"{name}: expected true or false, got {value!r}")


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
    faults: str | None = None  # test-only fault points (bot/faults.py); unset in production
    # How long one Slack Web API call may take; outbox leases are sized from it.
    slack_timeout_seconds: float = 10.0
    metrics_token: str | None = None
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_multiprocess_dir: str | None = None
    # Lead sources (issue 10); HubSpot and Typeform endpoints answer 404 without their secret.
    hubspot_client_secret: str | None = None
    hubspot_access_token: str | None = None
    hubspot_api_url: str = DEFAULT_HUBSPOT_API_URL
    typeform_secret: str | None = None
    public_url: str | None = None  # what senders call, e.g. https://handoff.example.com
    access_log: bool = False  # one INFO line per request costs ~12 % of the loop under load
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
        timeout_text = env.get("HANDOFF_SLACK_TIMEOUT", "10")
        try:
            slack_timeout = float(timeout_text)
        except ValueError:
            slack_timeout = 0.0
        if not 0 < slack_timeout <= 120:
            raise ConfigError(
                f"HANDOFF_SLACK_TIMEOUT: expected seconds between 0 and 120, got {timeout_text!r}"
            )
        log_level = (env.get("LOG_LEVEL") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(
                f"LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}"
            )
        log_format = (env.get("LOG_FORMAT") or "text").lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError(f"LOG_FORMAT: expected text or json, got {log_format!r}")
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
            faults=env.get("HANDOFF_FAULTS") or None,
            slack_timeout_seconds=slack_timeout,
            metrics_token=env.get("HANDOFF_METRICS_TOKEN") or None,
            log_level=log_level,
            log_format=log_format,
            # prometheus-client reads the same variable itself; we only need to know it is set.
            metrics_multiprocess_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            hubspot_client_secret=env.get("HUBSPOT_CLIENT_SECRET") or None,
            hubspot_access_token=env.get("HUBSPOT_ACCESS_TOKEN") or None,
            hubspot_api_url=(env.get("HUBSPOT_API_URL") or DEFAULT_HUBSPOT_API_URL).rstrip("/"),
            typeform_secret=env.get("TYPEFORM_SECRET") or None,
            public_url=_public_url(env.get("HANDOFF_PUBLIC_URL")),
            access_log=_flag(env, "HANDOFF_ACCESS_LOG"),
            subscription_secrets={
                name: value for name, value in env.items() if name.endswith("_SECRET") and value
            },
        )


def describe_sources(config: HandoffConfig, settings: Settings) -> list[str]:
    """One line per lead source for `handoff check-config`: what is on, and what it needs."""
    sources = config.sources
    lines = ["sources: POST /webhooks/leads and /webhooks/events (HMAC signed)"]
    if sources.tokens:
        lines.append(f"  bearer tokens: {', '.join(sorted(sources.tokens))}")
    hubspot = "on" if settings.hubspot_client_secret else "off (set HUBSPOT_CLIENT_SECRET)"
    reads = "reads contacts" if settings.hubspot_access_token else "no HUBSPOT_ACCESS_TOKEN"
    lines.append(f"  HubSpot /webhooks/hubspot: {hubspot}; {reads}")
    typeform = "on" if settings.typeform_secret else "off (set TYPEFORM_SECRET)"
    lines.append(
        f"  Typeform /webhooks/typeform: {typeform}; {len(sources.typeform.forms)} form(s) mapped"
    )
    for form_id, form in sorted(sources.forms.items()):
        spam = [
            name
            for name, on in (
                ("honeypot", form.honeypot),
                ("fill time", form.timestamp_field),
                ("origins", form.allowed_origins),
            )
            if on
        ]
        lines.append(
            f"  form /webhooks/forms/{form_id}: {len(form.fields)} mapped field(s), "
            f"{form.rate_limit.requests} per {compact_duration(form.rate_limit.per)} per address"
            + (f", {', '.join(spam)}" if spam else "")
        )
    if (sources.forms or sources.hubspot.properties) and not settings.public_url:
        lines.append(
            "  note: behind a proxy, set HANDOFF_PUBLIC_URL (HubSpot signs the public URL)"
        )
    return lines


def _public_url(value: str | None) -> str | None:
    if not value:
        return None
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ConfigError(
            f"HANDOFF_PUBLIC_URL: expected the public base URL, e.g. https://handoff.example.com, "
            f"got {value!r}"
        )
    return value.rstrip("/")


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
