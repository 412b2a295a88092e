"""`handoff doctor`: is this installation able to work? A checklist, each ✗ with a hint."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.services.lifecycle import CrmStatus
from bot.signatures import signed_headers
from bot.storage.doctor import DoctorStore

STUCK_GRACE = timedelta(minutes=5)
HTTP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str | None = None


def format_checks(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        lines.append(f"{'✓' if check.ok else '✗'} {check.name}: {check.detail}")
        if not check.ok and check.hint:
            lines.append(f"    hint: {check.hint}")
    failed = sum(not c.ok for c in checks)
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed")
    return "\n".join(lines)


def checks_json(checks: list[Check]) -> str:
    return json.dumps(
        {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}, indent=2
    )


def configured_channels(config: HandoffConfig) -> dict[str, list[str]]:
    """Every Slack channel the configuration names, with what it is used for."""
    uses: defaultdict[str, list[str]] = defaultdict(list)
    uses[config.routing.default_channel].append("routing.default_channel")
    for rule in config.routing.rules:
        uses[rule.channel].append(f"routing rule {rule.name!r}")
    for channel_id, channel in config.channels.items():
        uses[channel_id].append("channels")
        if channel.sla.overflow_channel:
            uses[channel.sla.overflow_channel].append(f"channels.{channel_id}.sla.overflow")
    if config.marketing.channel:
        uses[config.marketing.channel].append("marketing.channel")
    if config.sla.overflow_channel:
        uses[config.sla.overflow_channel].append("sla.overflow_channel")
    if config.reports.managers_channel:
        uses[config.reports.managers_channel].append("reports.managers_channel")
    return dict(uses)


def configured_users(config: HandoffConfig) -> dict[str, list[str]]:
    uses: defaultdict[str, list[str]] = defaultdict(list)
    for user in config.managers:
        uses[user].append("managers")
    for channel_id, channel in config.channels.items():
        if channel.manager:
            uses[channel.manager].append(f"channels.{channel_id}.manager")
        for rep in channel.reps:
            uses[rep].append(f"channels.{channel_id}.reps")
    return dict(uses)


def configured_groups(config: HandoffConfig) -> dict[str, list[str]]:
    uses: defaultdict[str, list[str]] = defaultdict(list)
    if config.manager_group:
        uses[config.manager_group].append("manager_group")
    if config.sla.mention:
        uses[config.sla.mention].append("sla.mention")
    for channel_id, channel in config.channels.items():
        if channel.sla.mention:
            uses[channel.sla.mention].append(f"channels.{channel_id}.sla.mention")
    return dict(uses)


def _slack_error(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or f"HTTP {exc.response.status_code}")


_SCOPE_HINT = (
    "the app lacks a scope: add {scope} (see manifest.yml) under OAuth & Permissions and "
    "reinstall the app"
)


class Doctor:
    def __init__(
        self,
        config: HandoffConfig,
        config_source: str,
        store: DoctorStore,
        clock: Clock,
        *,
        check_database: Callable[[], Awaitable[None]],
        slack: AsyncWebClient | None,
        webhook_secret: str | None,
        crm: CrmStatus | None = None,
    ) -> None:
        self._crm = crm
        self._config = config
        self._source = config_source
        self._store = store
        self._clock = clock
        self._check_database = check_database
        self._slack = slack
        self._secret = webhook_secret

    async def run(self) -> list[Check]:
        checks = [Check("configuration", True, f"{self._source} is valid")]
        database = await self._database()
        checks += database
        if database[0].ok:  # reachable: the CRM's state can be read
            checks += await self._crm_checks()
        checks += await self._slack_checks()
        checks.append(await self._marketing_webhook())
        return checks

    async def _crm_checks(self) -> list[Check]:
        if self._crm is None:
            return []
        checks: list[Check] = []
        hubspot = self._config.crm.hubspot
        if hubspot is not None and hubspot.enabled:
            unmatched = await self._crm.list_unmatched_reps()
            names = ", ".join(f"{m.user_id} ({m.email or 'no Slack email'})" for m in unmatched)
            checks.append(
                Check(
                    "HubSpot owners",
                    not unmatched,
                    "every rep who claimed has a HubSpot owner"
                    if not unmatched
                    else f"no HubSpot owner with the Slack email of {names}",
                    "add them as HubSpot users with the email they have in Slack; their claims "
                    "set no contact owner until then",
                )
            )
        failing = await self._crm.list_failing_endpoints()
        if failing:
            checks.append(
                Check(
                    "lifecycle webhooks",
                    False,
                    "failing for an hour or more: "
                    + ", ".join(f"{e.name} ({e.last_error or 'no answer'})" for e in failing),
                    "fix the endpoint; its events are kept and go out once it answers",
                )
            )
        return checks

    async def _database(self) -> list[Check]:
        try:
            await self._check_database()
        except Exception as exc:
            return [
                Check(
                    "database",
                    False,
                    f"unreachable: {type(exc).__name__}: {exc}",
                    "check DATABASE_URL and that the server is up and accepts this user",
                )
            ]
        pending = await self._store.list_pending_migrations()
        checks = [
            Check(
                "database",
                not pending,
                "reachable and migrated"
                if not pending
                else f"reachable, {len(pending)} migration(s) not applied: {', '.join(pending)}",
                "run `handoff migrate` (serve also migrates at start)",
            )
        ]
        if pending:
            return checks
        stuck = await self._store.count_stuck(self._clock(), STUCK_GRACE)
        minutes = int(STUCK_GRACE.total_seconds() // 60)
        checks += [
            Check(
                "outbox failed items",
                not stuck.failed_outbox,
                f"{stuck.failed_outbox} failed",
                "see them with `handoff replay --outbox --list`; fix the cause, then "
                "`handoff replay --outbox`",
            ),
            Check(
                "outbox overdue items",
                not stuck.overdue_outbox,
                f"{stuck.overdue_outbox} pending for more than {minutes} min past their time",
                "is `handoff serve` running and can it reach Slack? check its log",
            ),
            Check(
                "failed deliveries",
                not stuck.failed_deliveries,
                f"{stuck.failed_deliveries} failed",
                "see them with `handoff replay --list`; fix the cause, then `handoff replay`",
            ),
            Check(
                "routed leads have a card",
                not stuck.routed_without_card,
                f"{stuck.routed_without_card} routed more than {minutes} min ago without a card",
                "their card is stuck in the outbox or Slack refused it: see the outbox checks",
            ),
            Check(
                "claimed leads have an owner DM",
                not stuck.claimed_without_dm,
                f"{stuck.claimed_without_dm} claimed more than {minutes} min ago without a DM",
                "the DM is stuck in the outbox or Slack refused it (im:write scope?)",
            ),
        ]
        return checks

    async def _slack_checks(self) -> list[Check]:
        if self._slack is None:
            return [Check("Slack", True, "SLACK_BOT_TOKEN not set: Slack is off (ingest only)")]
        try:
            auth = await self._slack.auth_test()
        except SlackApiError as exc:
            return [
                Check(
                    "Slack token",
                    False,
                    f"auth.test refused it: {_slack_error(exc)}",
                    "SLACK_BOT_TOKEN must be the Bot User OAuth Token (xoxb-…) from the app's "
                    "OAuth & Permissions page; channels and users were not checked",
                )
            ]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return [
                Check(
                    "Slack token",
                    False,
                    f"Slack unreachable: {type(exc).__name__}: {exc}",
                    "check the network (and SLACK_API_URL if set)",
                )
            ]
        checks = [
            Check("Slack token", True, f"valid: bot {auth.get('user')} in {auth.get('team')}")
        ]
        for channel_id, uses in configured_channels(self._config).items():
            checks.append(await self._channel(channel_id, ", ".join(uses)))
        for user_id, uses in configured_users(self._config).items():
            checks.append(await self._user(user_id, ", ".join(uses)))
        groups = configured_groups(self._config)
        if groups:
            checks += await self._groups(groups)
        return checks

    async def _channel(self, channel_id: str, uses: str) -> Check:
        assert self._slack is not None  # noqa: S101 - only called with a client
        name = f"channel {channel_id} ({uses})"
        try:
            info = await self._slack.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            error = _slack_error(exc)
            hint = (
                _SCOPE_HINT.format(scope="channels:read and groups:read")
                if error == "missing_scope"
                else "check the ID in handoff.yml (channel details → the ID at the bottom); a "
                "private channel is only visible once the bot is invited"
            )
            return Check(name, False, f"not found ({error})", hint)
        channel: dict[str, Any] = info.get("channel") or {}
        label = f"#{channel.get('name', channel_id)}"
        if channel.get("is_archived"):
            return Check(name, False, f"{label} is archived", "unarchive it or pick another")
        if not channel.get("is_member"):
            return Check(
                name,
                False,
                f"the bot is not a member of {label}",
                f"invite it: type `/invite @handoff` in {label}",
            )
        return Check(name, True, f"{label} exists and the bot is a member")

    async def _user(self, user_id: str, uses: str) -> Check:
        assert self._slack is not None  # noqa: S101 - only called with a client
        name = f"user {user_id} ({uses})"
        try:
            info = await self._slack.users_info(user=user_id)
        except SlackApiError as exc:
            error = _slack_error(exc)
            hint = (
                _SCOPE_HINT.format(scope="users:read")
                if error == "missing_scope"
                else "check the member ID in handoff.yml (profile → ⋮ → Copy member ID)"
            )
            return Check(name, False, f"not found ({error})", hint)
        user: dict[str, Any] = info.get("user") or {}
        if user.get("deleted"):
            return Check(
                name, False, "the account is deactivated", "remove or replace it in handoff.yml"
            )
        return Check(name, True, f"exists ({user.get('real_name') or user.get('name')})")

    async def _groups(self, groups: dict[str, list[str]]) -> list[Check]:
        assert self._slack is not None  # noqa: S101 - only called with a client
        try:
            listed = await self._slack.usergroups_list()
        except SlackApiError as exc:
            error = _slack_error(exc)
            return [
                Check(
                    f"user group {group_id} ({', '.join(uses)})",
                    False,
                    f"cannot list user groups ({error})",
                    _SCOPE_HINT.format(scope="usergroups:read")
                    if error == "missing_scope"
                    else "user groups need a paid Slack plan",
                )
                for group_id, uses in groups.items()
            ]
        known = {str(g.get("id")): g for g in listed.get("usergroups") or []}
        checks = []
        for group_id, uses in groups.items():
            name = f"user group {group_id} ({', '.join(uses)})"
            group = known.get(group_id)
            if group is None:
                checks.append(
                    Check(
                        name,
                        False,
                        "not found",
                        "check the ID in handoff.yml (it starts with S)",
                    )
                )
            elif group.get("date_delete"):
                checks.append(Check(name, False, "disabled", "enable it or pick another"))
            else:
                checks.append(Check(name, True, f"exists (@{group.get('handle', group_id)})"))
        return checks

    async def _marketing_webhook(self) -> Check:
        url = self._config.marketing.webhook_url
        if not url:
            return Check("marketing webhook", True, "not configured")
        body = json.dumps({"event": "handoff.ping"}, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Handoff doctor",
            "X-Handoff-Event": "handoff.ping",
            **signed_headers(self._secret or "", int(self._clock().timestamp()), body),
        }
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, data=body, headers=headers) as response,
            ):
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Check(
                "marketing webhook",
                False,
                f"{url} did not answer: {type(exc).__name__}: {exc}",
                "check marketing.webhook_url and that the receiver is up",
            )
        # Any deliberate answer proves the receiver is there; these three say it is the wrong
        # URL or it does not accept our signature.
        if status >= 500 or status in (401, 403, 404):
            return Check(
                "marketing webhook",
                False,
                f"{url} answered HTTP {status}",
                "404: wrong URL; 401/403: it rejects our signature (HANDOFF_WEBHOOK_SECRET); "
                "5xx: the receiver is failing",
            )
        return Check("marketing webhook", True, f"{url} answers (HTTP {status})")
