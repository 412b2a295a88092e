"""The whole loop clicked through the sandbox page in headless chromium, as a newcomer would.

Each step saves a screenshot (the summary line at the end of the run names the folder).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.sandbox.run import run_sandbox

PEOPLE = {"Marco Rossi": "U0MARKETER", "Ana García": "U0ANA", "Maya Chen": "U0MANAGER"}


async def _be(page: Any, real_name: str) -> None:
    """The identity switch, by the name shown in it."""
    await page.select_option("#identity", value=PEOPLE[real_name])
    assert (await page.locator("#identity option:checked").inner_text()).startswith(real_name)


async def test_hot_lead_is_claimed_returned_and_reported_in_the_browser(
    browser_page: Any, screenshot_dir: Path
) -> None:
    page = browser_page

    async def shot(name: str) -> None:
        await page.screenshot(path=str(screenshot_dir / f"{name}.png"))

    async with run_sandbox() as sandbox:
        await page.goto(sandbox.page_url)
        await page.wait_for_selector("#live.on")

        # Marketing's system sends a hot lead.
        await _be(page, "Marco Rossi")
        await page.click('#channels li[data-conv="C0MARKETING"]')
        await page.click("#send-hot")
        sent = page.locator("#activity li").first
        await sent.wait_for()
        found = re.search(r"lead: (.+?), .* <([^>]+)>", await sent.inner_text())
        assert found, await sent.inner_text()
        name, email = found.groups()

        # A rep sees its card in the channel it was routed to, without contact details yet.
        await _be(page, "Ana García")
        await page.locator("#channels li:has(.badge)").first.click()
        card = page.locator(".message", has=page.locator(".block-header", has_text=name))
        claim = card.locator(':scope > .blocks button[data-action-id="lead_claim"]')
        await claim.wait_for()
        assert await card.locator('button[data-action-id="lead_not_ready"]').is_visible()
        assert email not in await card.inner_text()
        await card.scroll_into_view_if_needed()
        await shot("01-card-in-channel")

        # Claiming updates the card for everyone and DMs the rep the contact details.
        await claim.click()
        await card.get_by_text("Claimed by").wait_for()
        assert await claim.count() == 0
        await shot("02-card-claimed")
        await page.click('#dms li[data-conv="DU0ANA"]')
        dm = page.locator("#messages .message", has=page.locator(".block-header", has_text=name))
        await dm.get_by_role("link", name=email).wait_for()
        assert "Phone" in await dm.inner_text()
        await shot("03-dm-with-contact-details")

        # Not ready: the modal refuses a submission without a reason, then returns the lead.
        await dm.locator('button[data-action-id="lead_not_ready"]').click()
        modal = page.locator("form.modal")
        await modal.wait_for()
        await page.click("#modal-submit")
        await modal.locator(".input-error", has_text="Pick a reason").wait_for()
        await shot("04-modal-error-without-reason")
        await modal.get_by_label("No budget").check()
        await modal.locator("textarea, input[name=note]").first.fill("Budget frozen until Q3")
        await shot("05-modal-filled")
        await page.click("#modal-submit")
        await modal.wait_for(state="detached")

        # Marketing hears about it in its channel, with the reason and without the contact.
        await _be(page, "Marco Rossi")
        await page.click('#channels li[data-conv="C0MARKETING"]')
        returned = page.locator("#messages .message", has_text=name)
        await returned.get_by_text("No budget").first.wait_for()
        assert "returned to marketing" in (await returned.inner_text()).lower()
        assert email not in await returned.inner_text()
        await shot("06-marketing-hears")

        # The manager asks for the week's report.
        await _be(page, "Maya Chen")
        await page.click('#channels li[data-conv="C0MANAGERS"]')
        await page.fill("#command", "/leads report 7d")
        await page.press("#command", "Enter")
        report = page.locator(".message", has=page.locator(".block-header", has_text="Lead report"))
        await report.wait_for()
        report_text = await report.inner_text()
        assert "Only visible to you" in report_text
        assert "7 days" in report_text or "7d" in report_text, report_text
        await shot("07-report-as-manager")

        # Its chart (PNG) and the export (CSV) arrive as uploaded files in the manager's DM.
        for command in ("/leads report 7d chart", "/leads export 7d"):
            await page.fill("#command", command)
            await page.press("#command", "Enter")
            await page.wait_for_function("document.querySelector('#command').value === ''")
        await page.click('#dms li[data-conv="DU0MANAGER"]')
        await page.locator(".message img.file-image").wait_for()
        await page.wait_for_function(
            "document.querySelector('.message img.file-image').naturalWidth > 0"
        )
        csv = page.locator(".message table.csv-preview")
        await csv.get_by_text(email).wait_for()
        await shot("08-report-chart-in-dm")
