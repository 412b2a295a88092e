"""Slack interactivity: buttons, the "Not ready" modal and App Home. Ack first, then act; the
answer to the clicking person goes out through ClickAnswers (response_url first)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.domain.identifiers import parse_lead_id
from bot.services.access import Outcome
from bot.services.availability import AvailabilityService
from bot.services.claims import ClaimsService
from bot.services.returns import ReturnsService
from bot.slack import blocks
from bot.slack.answers import ClickAnswers, Clicked
from bot.slack.app import SOMETHING_WENT_WRONG

log = logging.getLogger(__name__)

Body = dict[str, Any]


def _user(body: Body) -> str:
    return str(body["user"]["id"])


def _lead_id(value: str) -> int | None:
    return parse_lead_id(value.split(":", 1)[0])


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


class SlackActionHandlers:
    def __init__(
        self,
        claims: ClaimsService,
        returns: ReturnsService,
        availability: AvailabilityService,
        clock: Clock,
        answers: ClickAnswers,
    ) -> None:
        self._answers = answers
        self._claims = claims
        self._returns = returns
        self._availability = availability
        self._clock = clock

    def register(self, app: AsyncApp) -> None:
        app.action(blocks.ACTION_CLAIM)(self.handle_claim)
        app.action(blocks.ACTION_NOT_READY)(self.handle_not_ready)
        app.action(blocks.ACTION_CONTACTED)(self.handle_contacted)
        app.action(blocks.ACTION_SNOOZE_1H)(self.handle_snooze)
        app.action(blocks.ACTION_SNOOZE_TOMORROW)(self.handle_snooze)
        app.action(blocks.ACTION_RELEASE)(self.handle_release)
        app.action(blocks.ACTION_OUTCOME)(self.handle_outcome)
        app.view(blocks.NOT_READY_CALLBACK_ID)(self.handle_not_ready_submit)
        app.event("app_home_opened")(self.handle_home_opened)
        app.action(blocks.ACTION_PAUSE)(self.handle_pause)
        app.action(blocks.ACTION_RESUME)(self.handle_resume)
        app.event("user_change")(self.handle_user_change)

    async def _answer(self, client: AsyncWebClient, body: Body, outcome: Outcome) -> None:
        if outcome.message:
            await self._answers.deliver(
                Clicked.from_body(body), blocks.build_notice(outcome.message)
            )

    async def handle_claim(self, ack: AsyncAck, body: Body, action: Body) -> None:
        await ack()
        await self.claim_clicked(Clicked.from_body(body), str(action.get("value", "")))

    async def claim_clicked(self, clicked: Clicked, value: str) -> None:
        """A Claim click, already acknowledged (by Bolt's listener, or at once by the
        /slack/events fast path): claim, then tell a loser who has the lead."""
        lead_id = _lead_id(value)
        if lead_id is None:
            return
        try:
            outcome = await self._claims.claim(lead_id, clicked.user)
        except Exception:
            log.exception(
                "Slack listener failed for block_actions %s (lead %s, user %s)",
                blocks.ACTION_CLAIM,
                lead_id,
                clicked.user,
            )
            outcome = Outcome(False, SOMETHING_WENT_WRONG)
        if outcome.message:
            await self._answers.deliver(clicked, blocks.build_notice(outcome.message))

    async def handle_not_ready(
        self, ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient
    ) -> None:
        await ack()
        lead_id = _lead_id(str(action.get("value", "")))
        if lead_id is None:
            return
        allowed = await self._returns.may_return(lead_id, _user(body))
        if not allowed.ok:
            await self._answer(client, body, allowed)
            return
        # trigger_id expires 3 s after the click: open the modal directly, not via the outbox.
        name = allowed.message or f"Lead #{lead_id}"
        try:
            await client.views_open(
                trigger_id=body["trigger_id"], view=blocks.build_not_ready_modal(lead_id, name)
            )
        except SlackApiError as exc:  # usually expired_trigger_id: a busy bot or a slow click
            log.warning("Not ready modal for lead %s did not open: %s", lead_id, exc)
            await self._answers.deliver(
                Clicked.from_body(body), blocks.build_not_ready_retry(lead_id, name)
            )

    async def handle_not_ready_submit(
        self, ack: AsyncAck, body: Body, view: Body, client: AsyncWebClient
    ) -> None:
        values = view["state"]["values"]
        reason = (
            values.get(blocks.NOT_READY_REASON_BLOCK, {})
            .get(blocks.NOT_READY_REASON_BLOCK, {})
            .get("selected_option")
            or {}
        ).get("value")
        note = (
            values.get(blocks.NOT_READY_NOTE_BLOCK, {}).get(blocks.NOT_READY_NOTE_BLOCK, {})
        ).get("value")
        picked = (
            values.get(blocks.NOT_READY_RECONTACT_BLOCK, {}).get(
                blocks.NOT_READY_RECONTACT_BLOCK, {}
            )
        ).get("selected_date")
        errors: dict[str, str] = {}
        if reason not in blocks.NOT_READY_REASONS:
            errors[blocks.NOT_READY_REASON_BLOCK] = "Pick a reason."
        recontact: date | None = None
        if picked:
            recontact = _date(str(picked))
            if recontact is None:
                errors[blocks.NOT_READY_RECONTACT_BLOCK] = "Pick a real date from the calendar."
            elif recontact <= self._clock().date():
                errors[blocks.NOT_READY_RECONTACT_BLOCK] = "Pick a date after today."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        lead_id = _lead_id(str(view.get("private_metadata", "")))
        if lead_id is None or reason is None:
            return
        outcome = await self._returns.return_lead(lead_id, _user(body), reason, note, recontact)
        await self._answer(client, body, outcome)

    async def handle_contacted(
        self, ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient
    ) -> None:
        await ack()
        lead_id = _lead_id(str(action.get("value", "")))
        if lead_id is not None:
            outcome = await self._claims.mark_contacted(lead_id, _user(body))
            await self._answer(client, body, outcome)

    async def handle_snooze(
        self, ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient
    ) -> None:
        await ack()
        value = str(action.get("value", ""))
        lead_id = _lead_id(value)
        if lead_id is not None:
            until = value.partition(":")[2]
            await self._answer(client, body, await self._claims.snooze(lead_id, _user(body), until))

    async def handle_release(
        self, ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient
    ) -> None:
        await ack()
        lead_id = _lead_id(str(action.get("value", "")))
        if lead_id is not None:
            await self._answer(client, body, await self._claims.release(lead_id, _user(body)))

    async def handle_outcome(
        self, ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient
    ) -> None:
        await ack()
        value = str((action.get("selected_option") or {}).get("value", ""))
        lead_id = _lead_id(value)
        if lead_id is not None:
            outcome = value.partition(":")[2]
            await self._answer(
                client, body, await self._claims.close(lead_id, _user(body), outcome)
            )

    async def handle_home_opened(self, event: Body) -> None:
        if event.get("tab", "home") == "home":
            await self._availability.publish_home(str(event["user"]))

    # --- availability (App Home pause, deactivated accounts) -----------------------------------

    async def handle_pause(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        await self._availability.pause(_user(body))  # the refreshed Home tab is the answer

    async def handle_resume(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        await self._availability.resume(_user(body))

    async def handle_user_change(self, body: Body, event: Body) -> None:
        user = event.get("user") or {}
        if user.get("id"):
            await self._availability.user_changed(
                str(body.get("event_id", "")), str(user["id"]), bool(user.get("deleted"))
            )
