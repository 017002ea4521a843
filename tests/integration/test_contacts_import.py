"""`touchplan contacts import FILE.csv`: good rows kept with their proof, bad rows reported by line and written
to FILE.rejected.csv, a re-run adds nothing, and an interrupted run resumes where it stopped."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.store.contacts import identity_key
from chalicelib.store.models import ContactModel
from cli import contacts as contacts_cli
from cli.main import main
from cli.outbox import sent_mail
from tests.integration.helpers import NOW

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture(autouse=True)
def one_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto in this process is not thread-safe (the local stack's server takes one request at a time)."""
    monkeypatch.setattr(contacts_cli, "WRITERS", 1)

HEADER = "email,phone,timezone,locale,first_name,birthday,b2b,point_id,loyalty_tier,consents," \
         "data_processing_text_id,consent_given_at,consent_source"
GOOD = [
    "anna@example.com,+79161234567,Europe/Moscow,ru-RU,Anna,1990-05-17,no,msk-01,gold,"
    "email:marketing:marketing-email-v1;sms:marketing:marketing-sms-v1,personal-data-v1,2024-03-01T09:30:00+03:00,"
    "shop till 4",
    "boris@example.com,,,,,,,,,email:marketing:marketing-email-v1,personal-data-v1,,",
    ",+79031112233,Asia/Kamchatka,,,,yes,,,sms:marketing:marketing-sms-v1,personal-data-v1,2025-01-01T00:00:00Z,",
]
BAD = {
    "not-an-address,,,,,,,,,email:marketing:marketing-email-v1,personal-data-v1,,": "email",
    "c@example.com,,,,,,,,,email:marketing:no-such-text,personal-data-v1,,": "consents",
    "d@example.com,,Mars/Olympus,,,,,,,email:marketing:marketing-email-v1,personal-data-v1,,": "timezone",
    "e@example.com,,,,,,,,,email:marketing:marketing-email-v1,personal-data-v1,2024-13-45,": "consent_given_at",
    "f@example.com,,,,,1990-02-30,,,,email:marketing:marketing-email-v1,personal-data-v1,,": "birthday",
}


def _file(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "base.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _owner(channel: str, address: str) -> str | None:
    key = identity_key(channel, address)
    return wiring.contacts().owners([key]).get(key)


def _rejected(path: Path) -> list[dict[str, str]]:
    with contacts_cli.rejected_path(path).open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _contact_count() -> int:
    return sum(1 for _ in ContactModel.scan())


def test_good_rows_are_kept_with_their_proof_and_bad_rows_are_reported_by_line(tmp_path, capsys) -> None:
    path = _file(tmp_path, [GOOD[0], *BAD, GOOD[1], GOOD[2]])

    assert main(["contacts", "import", str(path)]) == 0

    err = capsys.readouterr().err
    for line, column in zip(range(3, 8), BAD.values(), strict=True):
        assert f"line {line} ({column}):" in err
    assert _contact_count() == 3
    anna = wiring.contacts().get(_owner("email", "anna@example.com"))
    assert (anna.status, anna.phone, anna.timezone, anna.point_id, anna.b2b) == (
        "active", "+79161234567", "Europe/Moscow", "msk-01", False)
    assert anna.attributes == {"first_name": "Anna", "birthday": "1990-05-17", "loyalty_tier": "gold"}
    assert {k: r.state for k, r in anna.consents.items()} == {
        "any:data_processing": "granted", "email:marketing": "granted", "sms:marketing": "granted"}
    ledger = wiring.ledger().history(anna.contact_id)
    assert {(e.kind, e.source) for e in ledger} == {("granted", "import")}
    assert {e.at.isoformat() for e in ledger} == {"2024-03-01T06:30:00+00:00"}
    assert all(e.text_sha256 and e.detail["consent_source"] == "shop till 4" for e in ledger)
    kamchatka = wiring.contacts().get(_owner("sms", "+79031112233"))
    assert (kamchatka.email, kamchatka.b2b, kamchatka.timezone) == (None, True, "Asia/Kamchatka")
    boris = wiring.contacts().get(_owner("email", "boris@example.com"))
    assert boris.attributes == {} and boris.confirmed_at == NOW  # no proof time given: consented as of the import
    assert sent_mail() == []  # no DOI: the consent was collected before

    rows = _rejected(path)
    assert [(r["line"], r["column"]) for r in rows] == [(str(n), c) for n, c in zip(range(3, 8), BAD.values(),
                                                                                      strict=True)]
    assert rows[0]["email"] == "not-an-address" and rows[0]["reason"]
    assert not contacts_cli.progress_path(path).exists()


def test_a_re_run_adds_nothing(tmp_path, capsys) -> None:
    path = _file(tmp_path, GOOD)
    assert main(["contacts", "import", str(path)]) == 0
    first = {row.contact_id: len(wiring.ledger().history(row.contact_id)) for row in ContactModel.scan()}
    capsys.readouterr()

    assert main(["contacts", "import", str(path)]) == 0

    assert "0 imported, 3 already known, 0 rejected" in capsys.readouterr().out
    assert {row.contact_id: len(wiring.ledger().history(row.contact_id)) for row in ContactModel.scan()} == first


def test_an_interrupted_import_resumes_after_the_last_saved_batch(tmp_path, monkeypatch, capsys) -> None:
    lines = [f"p{i}@example.com,,,,,,,,,email:marketing:marketing-email-v1,personal-data-v1,," for i in range(7)]
    lines.insert(3, next(iter(BAD)))
    path = _file(tmp_path, lines)
    monkeypatch.setattr(contacts_cli, "BATCH", 2)
    from chalicelib.services.imports import ContactImport

    write = ContactImport.write

    def interrupted(self, rows):  # Ctrl-C while the third batch (lines 6 and 7) is on its way
        if any(row.line == 6 for row in rows):
            raise KeyboardInterrupt
        return write(self, rows)

    monkeypatch.setattr(ContactImport, "write", interrupted)
    assert main(["contacts", "import", str(path)]) == 130
    assert "interrupted after line 5" in capsys.readouterr().err
    assert _contact_count() == 3 and contacts_cli.progress_path(path).exists()
    monkeypatch.setattr(ContactImport, "write", write)

    assert main(["contacts", "import", str(path)]) == 0

    captured = capsys.readouterr()
    assert "resuming" in captured.err and "after line 5" in captured.err
    assert "7 imported, 0 already known, 1 rejected" in captured.out
    assert _contact_count() == 7
    assert [r["line"] for r in _rejected(path)] == ["5"]


def test_a_row_whose_phone_belongs_to_another_contact_is_rejected_not_merged(tmp_path, capsys) -> None:
    assert main(["contacts", "import", str(_file(tmp_path, [GOOD[2]]))]) == 0
    other = "zoe@example.com,+79031112233,,,,,,,,email:marketing:marketing-email-v1,personal-data-v1,,"
    path = tmp_path / "second.csv"
    path.write_text(f"{HEADER}\n{other}\n", encoding="utf-8")

    assert main(["contacts", "import", str(path)]) == 0

    assert "line 2 (phone): " in capsys.readouterr().err and _owner("email", "zoe@example.com") is None


def test_the_same_address_twice_in_one_file_makes_one_contact(tmp_path, capsys) -> None:
    path = _file(tmp_path, [GOOD[1], GOOD[1].replace("boris@", "BORIS@")])
    assert main(["contacts", "import", str(path)]) == 0
    assert "1 imported, 1 already known" in capsys.readouterr().out and _contact_count() == 1


@pytest.mark.parametrize(("header", "message"), [
    ("email,phone,data_processing_text_id", "line 1 names no consents column"),
    ("first_name,consents,data_processing_text_id", "line 1 names no email or phone column"),
    ("email,email,consents,data_processing_text_id", "line 1 names email more than once"),
])
def test_a_file_whose_header_cannot_work_is_refused_before_anything_is_written(tmp_path, capsys, header, message):
    path = _file(tmp_path, ["a@example.com,a@example.com,x,y"], header=header)
    assert main(["contacts", "import", str(path)]) == 2
    assert message in capsys.readouterr().err and _contact_count() == 0


def test_a_missing_file_is_named(tmp_path, capsys) -> None:
    assert main(["contacts", "import", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_a_proof_time_in_the_future_is_refused(tmp_path, capsys) -> None:
    later = (NOW + timedelta(days=1)).isoformat()
    path = _file(tmp_path, [f"g@example.com,,,,,,,,,email:marketing:marketing-email-v1,personal-data-v1,{later},"])
    assert main(["contacts", "import", str(path)]) == 0
    assert "line 2 (consent_given_at):" in capsys.readouterr().err


def test_batches_written_side_by_side_settle_in_file_order_and_a_stop_keeps_what_was_written(
        tmp_path, monkeypatch, capsys) -> None:
    from tests.integration.store.conftest import use_memory_store

    use_memory_store(monkeypatch)  # thread-safe, unlike moto in this process
    monkeypatch.setattr(contacts_cli, "WRITERS", 3)
    monkeypatch.setattr(contacts_cli, "BATCH", 2)
    lines = [f"q{i}@example.com,,,,,,,,,email:marketing:marketing-email-v1,personal-data-v1,," for i in range(9)]
    lines.insert(1, next(iter(BAD)))  # line 3
    path = _file(tmp_path, lines)
    from chalicelib.services.imports import ContactImport

    write = ContactImport.write

    def busy(self, rows):  # the batch of lines 8 and 9 fails while the ones beside it may be written
        if any(row.line == 8 for row in rows):
            raise KeyboardInterrupt
        return write(self, rows)

    monkeypatch.setattr(ContactImport, "write", busy)
    assert main(["contacts", "import", str(path)]) == 130
    assert "interrupted after line 7" in capsys.readouterr().err
    monkeypatch.setattr(ContactImport, "write", write)

    assert main(["contacts", "import", str(path)]) == 0

    out = capsys.readouterr().out
    assert "1 rejected" in out and "0 imported, 9" not in out
    assert len(wiring.contacts().owners([identity_key("email", f"q{i}@example.com") for i in range(9)])) == 9
    assert [r["line"] for r in _rejected(path)] == ["3"]
