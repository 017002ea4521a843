"""`touchplan contacts import` against the local stack (`touchplan run`, a subprocess on free ports).

Writes a CSV of ROWS contacts (1 in 50 of them bad: a broken address, an unknown consent text, a zone that
does not exist), imports it through the real command in this process, pointed at the stack as the command
points itself, and counts every DynamoDB request the import makes. Then imports the same file again, which
must add nothing. Rows per second are wall-clock (the stack's moto server runs in its own process); the CPU
seconds of this process and of the stack say where the time went, however loaded the machine is.

Run: .venv/bin/python bench/contacts_import.py [ROWS]. Ends with
`RESULT contacts_import_rows_per_second=<v> goal=>=56` (100,000 rows inside 30 minutes) and
`RESULT contacts_import_dynamodb_requests_per_row=<v> goal=<=1`.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.stack import start_stack, stop_stack  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
HEADER = "email,phone,timezone,first_name,consents,data_processing_text_id,consent_given_at,consent_source\n"
ZONES = ("Europe/Kaliningrad", "Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Asia/Vladivostok",
         "Asia/Kamchatka", "America/New_York")
CONSENT = "email:marketing:marketing-email-v1"


def _row(i: int) -> str:
    zone = ZONES[i % len(ZONES)]
    if i % 50 == 7:
        return f"broken-{i},,{zone},,{CONSENT},personal-data-v1,,\n"
    if i % 50 == 23:
        return f"c{i}@example.com,,Mars/Olympus,,{CONSENT},personal-data-v1,,\n"
    if i % 50 == 41:
        return f"c{i}@example.com,,{zone},,email:marketing:no-such-text,personal-data-v1,,\n"
    phone = f"+7916{i:07d}" if i % 3 == 0 else ""
    consents = f"{CONSENT};sms:marketing:marketing-sms-v1" if phone else CONSENT
    name = "Anna" if i % 2 else ""
    return f"c{i}@example.com,{phone},{zone},{name},{consents},personal-data-v1,2024-03-01T09:30:00+03:00,shop\n"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc): where the time goes, whatever else loads the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _import(path: Path, requests: Counter[str], server: int) -> tuple[float, str]:
    from cli.main import main

    before = sum(requests.values())
    started, client, stack = time.perf_counter(), time.process_time(), _cpu_seconds(server)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["contacts", "import", str(path)])
    seconds = time.perf_counter() - started
    client, stack = time.process_time() - client, _cpu_seconds(server) - stack
    if code != 0:
        raise SystemExit(f"import exited {code}: {err.getvalue()[-2000:]}")
    print(out.getvalue().strip(), f"({sum(requests.values()) - before:,} DynamoDB requests, {seconds:.1f} s; CPU: "
          f"this process {client:.1f} s, the stack (moto) {stack:.1f} s)")
    return seconds, out.getvalue()


def main() -> None:
    stack = start_stack()
    try:
        os.environ.update({"AWS_ENDPOINT_URL": stack.moto, "AWS_ACCESS_KEY_ID": "local",
                           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "eu-west-1",
                           "AWS_REGION": "eu-west-1", "TOUCHPLAN_STAGE": "local"})
        from chalicelib.store.models import CONNECTION

        requests: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            requests[model.name] += 1

        CONNECTION.client.meta.events.register("before-call.dynamodb.*", count)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "base.csv"
            with path.open("w", encoding="utf-8") as stream:
                stream.write(HEADER)
                stream.writelines(_row(i) for i in range(ROWS))
            seconds, _ = _import(path, requests, stack.process.pid)
            first = Counter(requests)
            again, summary = _import(path, requests, stack.process.pid)
            assert " 0 imported," in summary, summary
    finally:
        stop_stack(stack)
    per_row = sum(first.values()) / ROWS
    print(f"first import: {ROWS:,} rows in {seconds:.1f} s, {ROWS / seconds:,.0f} rows/s; DynamoDB requests "
          f"{dict(first)} = {per_row:.3f} per row; re-run (adds nothing): {ROWS / again:,.0f} rows/s, "
          f"{(sum(requests.values()) - sum(first.values())) / ROWS:.3f} requests per row")
    print(f"RESULT contacts_import_rows_per_second={ROWS / seconds:.0f} goal=>=56")
    print(f"RESULT contacts_import_dynamodb_requests_per_row={per_row:.3f} goal=<=1")


if __name__ == "__main__":
    main()
