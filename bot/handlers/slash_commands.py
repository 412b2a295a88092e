"""`/leads`: ack at once, answer through response_url, upload charts and CSVs to Slack."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.report_query import ReportQueryError, parse_assign_command
from bot.services.claims import ClaimsService
from bot.services.privacy import PrivacyService
from bot.services.reports import (
    ExportAnswer,
    FindAnswer,
    FunnelAnswer,
    HelpAnswer,
    LeaderboardAnswer,
    Refusal,
    ReportAnswer,
    ReportsAnswer,
    ReportsService,
    ReturnsAnswer,
    StaleAnswer,
)
from bot.slack import report_blocks

log = logging.getLogger(__name__)

Command = dict[str, Any]


def render(answer: ReportsAnswer) -> dict[str, Any]:
    if isinstance(answer, Refusal):
        return report_blocks.build_notice_message(answer.message)
    if isinstance(answer, HelpAnswer):
        return report_blocks.build_help_message(answer.text, answer.problem)
    if isinstance(answer, ReportAnswer):
        return report_blocks.build_report_message(answer.period, answer.report, answer.funnel)
    if isinstance(answer, FunnelAnswer):
        return report_blocks.build_funnel_message(answer.period, answer.funnel)
    if isinstance(answer, StaleAnswer):
        return report_blocks.build_stale_message(answer.stale)
    if isinstance(answer, FindAnswer):
        return report_blocks.build_find_message(answer.text, answer.leads)
    if isinstance(answer, ReturnsAnswer):
        return report_blocks.build_returns_message(answer.period, answer.returns)
    if isinstance(answer, LeaderboardAnswer):
        return report_blocks.build_leaderboard_message(answer.period, answer.rows)
    return report_blocks.build_export_message(answer.filename, answer.rows, answer.truncated)


class LeadsCommandHandlers:
    def __init__(
        self,
        reports: ReportsService,
        handoff: ClaimsService,
        privacy: PrivacyService | None = None,
    ) -> None:
        self._reports = reports
        self._handoff = handoff
        self._privacy = privacy

    def register(self, app: AsyncApp) -> None:
        app.command("/leads")(self.handle_leads)

    async def handle_leads(
        self, ack: AsyncAck, command: Command, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()  # Slack's 3 s clock stops here; the answer follows through response_url
        user_id = str(command["user_id"])
        text = str(command.get("text") or "").strip()
        is_manager = await self._handoff.is_any_manager(user_id)
        if text.split(" ", 1)[0].lower() == "assign":
            request = parse_assign_command(text)
            if isinstance(request, ReportQueryError):
                await respond(
                    **report_blocks.build_notice_message(f"Could not assign: {request.message}"),
                    response_type="ephemeral",
                )
                return
            outcome = await self._handoff.reassign_from_command(user_id, is_manager, text)
            await respond(**report_blocks.build_notice_message(outcome), response_type="ephemeral")
            return
        if text.split(" ", 1)[0].lower() == "forget" and self._privacy is not None:
            said = await self._privacy.forget_from_command(user_id, is_manager, text)
            await respond(**report_blocks.build_notice_message(said), response_type="ephemeral")
            return
        answer = await self._reports.answer(user_id, is_manager, text)
        public = isinstance(answer, ReportAnswer) and answer.public
        await respond(**render(answer), response_type="in_channel" if public else "ephemeral")
        try:
            if isinstance(answer, ReportAnswer) and answer.chart_png is not None:
                channel = str(command["channel_id"]) if public else await self._dm(client, user_id)
                await client.files_upload_v2(
                    channel=channel,
                    content=answer.chart_png,
                    filename="lead-report.png",
                    title=f"Leads · {answer.period.label}",
                )
            if isinstance(answer, FunnelAnswer):
                await client.files_upload_v2(
                    channel=await self._dm(client, user_id),
                    content=answer.chart_png,
                    filename="lead-funnel.png",
                    title=f"Lead funnel · {answer.period.label}",
                )
            if isinstance(answer, ExportAnswer):
                await client.files_upload_v2(
                    channel=await self._dm(client, user_id),
                    content=answer.content,
                    filename=answer.filename,
                    title=answer.filename,
                )
        except SlackApiError as exc:
            # The numbers were already answered; say plainly that the file did not make it.
            error = exc.response.get("error") or exc.response.status_code
            log.warning("upload for /leads %s failed: %s", text, error)
            await respond(
                **report_blocks.build_notice_message(
                    f"Slack refused the file upload ({error}). Try again in a minute."
                ),
                response_type="ephemeral",
            )

    async def _dm(self, client: AsyncWebClient, user_id: str) -> str:
        """Private files go to the user's DM with the bot (a file cannot be ephemeral)."""
        opened = await client.conversations_open(users=user_id)
        return str(opened["channel"]["id"])
