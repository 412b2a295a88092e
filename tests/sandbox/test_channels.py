"""The stand-in knows the sandbox's channels: posting elsewhere fails as in Slack."""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack_api import DEFAULT_TOKEN, FakeSlackApi


async def test_only_known_channels_dms_and_people_can_be_posted_to(aiohttp_client: Any) -> None:
    fake = FakeSlackApi(channels=frozenset({"C0SALES"}))
    fake.add_user("U0ANA")
    client = await aiohttp_client(fake.app)
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}

    async def post(channel: str) -> dict[str, Any]:
        response = await client.post(
            "/api/chat.postMessage", json={"channel": channel, "text": "hi"}, headers=headers
        )
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer

    assert (await post("C0SALES"))["ok"] is True
    assert (await post("U0ANA"))["ok"] is True  # a user ID posts to the DM
    assert (await post("DU0ANA"))["ok"] is True
    assert await post("C0TYPO") == {"ok": False, "error": "channel_not_found"}
    assert await post("DU0NOBODY") == {"ok": False, "error": "channel_not_found"}
    assert [m["channel"] for m in fake.posted()] == ["C0SALES", "U0ANA", "DU0ANA"]
