"""The preference centre in a real browser: headless Chromium (Debian's package) driven by Playwright.

From the local stack as a user runs it: sign up on the example page (the form and script of docs/embed.md),
the DOI mail arrives in the outbox, its link confirms, the confirmation page leads to the preference centre,
SMS marketing is switched off and saved, and the admin export shows the revocation in the consent ledger.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from tests.e2e.stack import RunningStack, get

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _doi_link(stack: RunningStack, email: str) -> str:
    deadline = time.monotonic() + 30  # the stack's dispatcher feeds the steps queue to the DOI worker
    while time.monotonic() < deadline:
        _, body = get(f"{stack.api}/_local/outbox.json")
        for mail in json.loads(body)["mail"]:
            if email in mail["to"]:
                return re.search(r"https?://\S+", mail["text"]).group(0)  # type: ignore[union-attr]
        time.sleep(0.3)
    raise AssertionError("no DOI mail arrived in the outbox")


def test_switching_sms_marketing_off_in_the_browser_is_recorded_in_the_ledger(
    local_stack: RunningStack, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed: apt-get install chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    email = "browser@example.com"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, locale="en-GB")  # a phone screen
            page.goto(f"{local_stack.api}/_local/example")  # the form and script of docs/embed.md
            page.fill('input[name="email"]', email)
            page.fill('input[name="phone"]', "+7 916 123-45-67")
            for box in page.locator('input[type="checkbox"]').all():
                box.check()
            page.click('button[type="submit"]')
            page.wait_for_selector("text=Almost done")
            page.goto(_doi_link(local_stack, email))
            assert "Subscription confirmed" in page.content()
            page.click("text=Manage your subscriptions")
            sms = page.locator('input[type="checkbox"][name="sms:marketing"]')
            assert sms.is_checked()
            sms.uncheck()
            page.click('button[value="save"]')
            page.wait_for_selector(".saved")
            assert not page.locator('input[type="checkbox"][name="sms:marketing"]').is_checked()
            assert page.locator('input[type="checkbox"][name="email:marketing"]').is_checked()
            page.screenshot(path=str(tmp_path / "preferences.png"), full_page=True)
            token = page.url.split("token=")[1]
        finally:
            browser.close()

    assert (tmp_path / "preferences.png").stat().st_size > 0
    payload = token.split(".")[1]
    contact_id = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["c"]  # in the link
    status, body = get(f"{local_stack.api}/v1/admin/contacts/{contact_id}/export",
                       headers={"Authorization": f"Bearer {local_stack.key}"})
    assert status == 200
    history = json.loads(body)["consent_history"]
    revoked = [e for e in history if e["kind"] == "revoked"]
    assert [(e["channel"], e["purpose"], e["source"]) for e in revoked] == [("sms", "marketing", "preference-centre")]
