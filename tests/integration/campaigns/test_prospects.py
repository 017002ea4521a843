"""Every contact is in a segment from the start: a minimal sign-up confirmed through the public routes and a
minimal imported row are prospects, and a campaign to the prospect segment reaches them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from chalicelib import wiring
from chalicelib.domain.reasons import Reason
from cli.main import main
from cli.outbox import sent_mail
from tests.integration.campaigns.conftest import Call, body
from tests.integration.consent.conftest import contact_id_of, link_in, post_signup, run_doi_worker
from tests.integration.helpers import due_messages

IMPORT_HEADER = "email,consents,data_processing_text_id"


def test_a_minimal_confirmed_sign_up_and_a_minimal_import_are_reached_by_a_campaign_to_prospects(
        api, call: Call, clock, tmp_path: Path) -> None:
    minimal = {"email": "anna@example.com", "data_processing": {"text_id": "personal-data-v1"},
               "consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}]}
    assert post_signup(api, minimal).status_code == 202
    assert run_doi_worker() == 1
    assert api.http.get(link_in(sent_mail()[-1].text)).status_code == 200
    base = tmp_path / "base.csv"
    base.write_text(f"{IMPORT_HEADER}\nboris@example.com,email:marketing:marketing-email-v1,personal-data-v1\n",
                    encoding="utf-8")
    assert main(["contacts", "import", str(base)]) == 0
    anna, boris = contact_id_of("anna@example.com"), contact_id_of("boris@example.com")
    assert {wiring.contacts().get(cid).segment for cid in (anna, boris)} == {"prospect"}  # type: ignore[union-attr]

    status, created = call("POST", "/v1/admin/campaigns", body(audience={"segment": "prospect"}))
    assert status == 201, created
    clock.at = datetime(2026, 11, 26, 12, tzinfo=UTC)  # within a day of the send time: the fan-out
    wiring.campaigns().work(clock.now())
    clock.at = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)  # 08:30 in Kaliningrad, the zone of no known zone
    outcomes = {m["contact_id"]: wiring.step_worker().handle(m)
                for m in due_messages(clock.now()) if m["chain_id"].startswith("campaign:")}

    assert set(outcomes) == {anna, boris}
    assert outcomes[boris].touch_status == "sent"  # type: ignore[union-attr]
    # Anna is still in her welcome series, which outranks a campaign: the campaign waits for it.
    assert (outcomes[anna].touch_status, outcomes[anna].reason) == ("deferred", Reason.LOWER_PRIORITY)  # type: ignore[union-attr]
    read = call("GET", f"/v1/admin/campaigns/{created['campaign_id']}")[1]
    assert (read["counts"]["audience"], read["counts"]["enrolled"]) == (2, 2), json.dumps(read)
