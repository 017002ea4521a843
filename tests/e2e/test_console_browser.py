"""The operators' console in a real browser: headless Chromium (Debian's package) driven by Playwright, on the
local stack as `make run` starts it.

A point manager signs in on a phone screen, marks two of their point's contacts done with a comment, is refused
when marking one again, reads the comment on the card, and gets the 403 page for another point's contact and
for the occasion editor. A service manager then edits a template on a desktop screen and watches the preview
change as they type, and opens the stats. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, RunningStack, get

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.browser, pytest.mark.slow]
BASE = """email,first_name,point_id,timezone,consents,data_processing_text_id
ann.console@example.com,Anna,msk-01,Europe/Moscow,email:marketing:marketing-email-v1,personal-data-v1
ben.console@example.com,,msk-01,,email:marketing:marketing-email-v1,personal-data-v1
zoe.console@example.com,Zoe,spb-02,,email:marketing:marketing-email-v1,personal-data-v1
"""


def _cli(stack: RunningStack, *args: str) -> str:
    """A `touchplan` command as an operator runs it beside `make run`: it finds the running stack by its record."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOUCHPLAN_"))}
    env["TOUCHPLAN_LOCAL_STATE"] = str(stack.state)
    done = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _contact_id(stack: RunningStack, email: str) -> str:
    status, body = get(f"{stack.api}/v1/admin/contacts?email={email}",
                       headers={"Authorization": f"Bearer {stack.key}"})
    assert status == 200, body
    return str(json.loads(body)["contacts"][0]["contact_id"])


def test_a_point_manager_works_the_checklist_and_a_service_manager_edits_with_a_live_preview(
    local_stack: RunningStack, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed: apt-get install chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    base = tmp_path / "base.csv"
    base.write_text(BASE)
    _cli(local_stack, "contacts", "import", str(base))
    olga_key = _cli(local_stack, "keys", "create", "--role", "point-manager", "--point", "msk-01",
                    "--label", "olga").splitlines()[-1]
    ann, ben, zoe = (_contact_id(local_stack, f"{n}.console@example.com") for n in ("ann", "ben", "zoe"))
    console = f"{local_stack.api}/console"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
            page = phone.new_page()
            page.goto(console)
            page.fill('input[name="key"]', olga_key)
            page.click('button[type="submit"]')
            page.wait_for_selector("text=Occasions")
            page.goto(f"{console}/occasions/anniversary/checklist")
            for contact_id, comment in ((ann, "Called, she was pleased"), (ben, "Met at the counter")):
                row = page.locator(f"#contact-{contact_id}")
                row.locator('select[name="channel"]').select_option("phone")
                row.locator('input[name="comment"]').fill(comment)
                row.locator('button[value="yes"]').click()
                page.wait_for_selector(".notice")
                assert "done" in page.locator(f"#contact-{contact_id}").inner_text()
            page.screenshot(path=str(tmp_path / "checklist.png"), full_page=True)
            page.locator(f"#contact-{ann} button[value='yes']").click()
            refusal = page.wait_for_selector(".refusal")
            assert "already marked" in refusal.inner_text()
            page.screenshot(path=str(tmp_path / "refusal.png"), full_page=True)
            page.click(f"#contact-{ann} a")
            assert "Called, she was pleased" in page.locator(".touch .comment").first.inner_text()
            page.screenshot(path=str(tmp_path / "card.png"), full_page=True)
            for forbidden in (f"{console}/contacts/{zoe}", f"{console}/occasions/anniversary"):
                answer = page.goto(forbidden)
                assert answer is not None and answer.status == 403
                assert "Not allowed" in page.content()
            page.screenshot(path=str(tmp_path / "forbidden.png"), full_page=True)
            phone.close()

            desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
            page = desk.new_page()
            page.goto(console)
            page.fill('input[name="key"]', local_stack.key)
            page.click('button[type="submit"]')
            page.wait_for_selector("text=Occasions")
            page.goto(f"{console}/occasions/anniversary")
            shown = page.locator('pre[data-field="sms.en.text"]')
            before = shown.inner_text()
            page.fill('textarea[name="templates.sms.en.text"]', "Five years together! Reply STOP to opt out")
            page.wait_for_function(
                "document.querySelector('pre[data-field=\"sms.en.text\"]').textContent.startsWith('Five years')")
            assert page.locator('pre[data-field="sms.en.text"]').inner_text() != before
            page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)
            page.click('button[value="save"]')
            page.wait_for_selector(".notice")
            assert "version 1" in page.locator(".notice").inner_text()
            page.screenshot(path=str(tmp_path / "saved.png"), full_page=True)
            page.click("text=Stats")
            page.wait_for_selector("#triggered-share")
            page.screenshot(path=str(tmp_path / "stats.png"), full_page=True)
            desk.close()
        finally:
            browser.close()

    for name in ("checklist", "refusal", "card", "forbidden", "preview", "saved", "stats"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    status, body = get(f"{local_stack.api}/v1/admin/occasions/anniversary",
                       headers={"Authorization": f"Bearer {local_stack.key}"})
    assert status == 200
    assert json.loads(body)["occasion"]["templates"]["sms"]["en"]["text"].startswith("Five years together")
