"""One-shot operator commands (`handoff doctor`, `handoff forget`), composed here rather than in
`bot.server` so they start without loading the web app, Bolt and the chart code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import system_clock
from bot.config import HandoffConfig, Settings
from bot.services.doctor import Check, Doctor
from bot.services.lifecycle import CrmStatus
from bot.services.privacy import ForgetAnswer, PrivacyService
from bot.storage.crm import CrmStore
from bot.storage.database import check_database, open_database
from bot.storage.doctor import DoctorStore
from bot.storage.privacy import PrivacyStore


async def run_doctor(settings: Settings, config: HandoffConfig, source: str) -> list[Check]:
    """Every check of `handoff doctor`; the database is opened without migrating it."""
    slack = (
        AsyncWebClient(
            token=settings.slack_bot_token,
            base_url=settings.slack_api_url,
            timeout=10,
            retry_handlers=[],
        )
        if settings.slack_bot_token
        else None
    )

    def doctor(check: Callable[[], Awaitable[None]]) -> Doctor:
        return Doctor(
            config,
            source,
            DoctorStore(),
            system_clock,
            check_database=check,
            slack=slack,
            webhook_secret=settings.webhook_secret,
            crm=CrmStatus(CrmStore()),
        )

    opened = False
    try:
        async with open_database(settings.database_url, run_migrations=False):
            opened = True
            return await doctor(check_database).run()
    except Exception as exc:
        if opened:
            raise
        failure = exc

        async def unreachable() -> None:
            raise failure

        return await doctor(unreachable).run()


async def forget_email(settings: Settings, config: HandoffConfig, email: str) -> ForgetAnswer:
    """`handoff forget`: erase one person; a running `handoff serve` updates their Slack card."""
    async with open_database(settings.database_url):
        privacy = PrivacyService(
            PrivacyStore(), system_clock, timedelta(days=config.retention.days)
        )
        return await privacy.forget(email, "cli")
