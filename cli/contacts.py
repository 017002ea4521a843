"""`touchplan contacts import FILE.csv [--stage S]`: brings an existing base in with its consent proof.

Each row is checked with the sign-up's validators (chalicelib/services/imports.py). Bad rows are reported by
line with their reason and written to FILE.rejected.csv; good rows are kept. Progress is saved beside the file
after every batch, so after Ctrl-C the same command resumes where it stopped; a finished import run again adds
nothing, because every address that is already a contact is `known`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cli import stack
from cli.progress import Progress

BATCH = 200  # rows per identity lookup (one BatchGetItem each 100 addresses) and per group of transactions
# Batches on their way at once, each in a writer thread: one is checked and serialised while the store works on
# the other. Progress is saved in file order, a batch once written whole, so a resumed run skips only what was.
WRITERS = 2


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("contacts", help="manage contacts")
    actions = parser.add_subparsers(dest="action", required=True)
    imports = actions.add_parser("import", help="import contacts with their consent proof from a CSV file")
    imports.add_argument("file", type=Path, help="CSV with a header row (UTF-8; Excel's BOM is fine)")
    imports.add_argument("--stage", help="a deployed stage (default: the running local stack)")
    imports.set_defaults(func=import_contacts)


def rejected_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejected.csv")


def progress_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.import-progress.json")


def import_contacts(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        header, total = _survey(path)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        print(f"touchplan contacts import: {path}: {exc}", file=sys.stderr)
        return 2
    try:
        stack.point_at(args.stage)
    except stack.NoStack as exc:
        print(f"touchplan contacts import: {exc}", file=sys.stderr)
        return 1
    from chalicelib import wiring
    from chalicelib.services.imports import ContactImport
    from chalicelib.strategy.loader import StrategyError

    try:
        importer = ContactImport(wiring.contacts(), wiring.strategy(), wiring.clock())
    except StrategyError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return 2
    return _run(path, header, total, importer)


def _survey(path: Path) -> tuple[list[str], int]:
    """The header, checked, and how many data rows follow (for the progress bar)."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if not header:
            raise ValueError("the file is empty; line 1 must name the columns")
        names = [name.strip().lower() for name in header]
        if not {"email", "phone"} & set(names):
            raise ValueError("line 1 names no email or phone column")
        for needed in ("consents", "data_processing_text_id"):
            if needed not in names:
                raise ValueError(f"line 1 names no {needed} column")
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"line 1 names {', '.join(duplicated)} more than once")
        return header, sum(1 for _ in reader)


def _run(path: Path, header: list[str], total: int, importer: Any) -> int:
    from chalicelib.store.errors import StorageBusy

    saved = _resume_point(path)
    start = saved.get("line", 1)
    counts: Counter[str] = Counter(saved.get("counts", {}))
    if start > 1:
        print(f"resuming {path} after line {start} ({sum(counts.values()):,} rows done before)", file=sys.stderr)
    progress = Progress(total, "rows")
    rejected_stream = rejected_path(path).open("a" if start > 1 else "w", newline="", encoding="utf-8")
    rejected = csv.writer(rejected_stream)
    if start == 1:
        rejected.writerow(["line", "column", "reason", *header])
    done = sum(counts.values())
    line = start

    def settle(batch: list[tuple[int, list[str]]], outcomes: list[Any]) -> None:
        """Counts a written batch, reports its bad rows and saves the progress: batches settle in file order."""
        nonlocal done, line
        raw = dict(batch)
        for outcome in outcomes:
            counts[outcome.status] += 1
            if outcome.status == "rejected":
                _report(outcome, rejected, raw[outcome.line])
        rejected_stream.flush()
        done += len(batch)
        line = batch[-1][0]
        _save(path, line, counts)
        progress.show(done, f"{counts['imported']:,} imported, {counts['known']:,} known, "
                            f"{counts['rejected']:,} rejected")

    pending: deque[tuple[list[tuple[int, list[str]]], Future[list[Any]]]] = deque()
    pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="import")
    try:
        for batch in _batches(path, start):
            pending.append((batch, pool.submit(_import_batch, importer, header, batch)))
            if len(pending) == WRITERS:
                settle(*_next_written(pending))
        while pending:
            settle(*_next_written(pending))
    except KeyboardInterrupt:
        _settle_written(pending, settle)
        print(f"\ninterrupted after line {line}; run the same command again to resume", file=sys.stderr)
        return 130
    except StorageBusy as exc:
        _settle_written(pending, settle)
        print(f"\ntouchplan contacts import: storage busy after line {line} ({exc}); run it again to resume",
              file=sys.stderr)
        return 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        rejected_stream.close()
    progress.show(done, final=True)
    progress_path(path).unlink(missing_ok=True)
    print(f"{path}: {counts['imported']:,} imported, {counts['known']:,} already known, "
          f"{counts['rejected']:,} rejected" + (f" (see {rejected_path(path)})" if counts["rejected"] else ""))
    return 0


def _import_batch(importer: Any, header: list[str], batch: list[tuple[int, list[str]]]) -> list[Any]:
    """The batch's outcomes in line order: each row checked, the good ones written (in a writer thread)."""
    from chalicelib.services.imports import ImportRow, Outcome, RowError, parse_row

    parsed: list[ImportRow] = []
    outcomes: list[Outcome] = []
    now = importer.clock.now()
    for number, row in batch:
        try:
            parsed.append(parse_row(number, dict(zip(header, row, strict=False)), importer.strategy, now))
        except RowError as exc:
            outcomes.append(Outcome(number, "rejected", column=exc.column, reason=exc.message))
    outcomes += importer.write(parsed)
    return sorted(outcomes, key=lambda o: o.line)


Written = tuple[list[tuple[int, list[str]]], list[Any]]


def _next_written(pending: deque[tuple[list[tuple[int, list[str]]], Future[list[Any]]]]) -> Written:
    """The first batch once written; it leaves `pending` only then, so after a stop it is still there."""
    batch, future = pending[0]
    outcomes = future.result()
    pending.popleft()
    return batch, outcomes


def _settle_written(pending: deque[tuple[list[tuple[int, list[str]]], Future[list[Any]]]],
                    settle: Callable[..., None]) -> None:
    """After a stop, the batches already on their way are let finish, and those written before the first that
    failed are settled, so the saved progress covers every row written up to it."""
    for future in (f for _, f in pending):
        future.cancel()
    for batch, future in pending:
        if future.cancelled() or future.exception() is not None:
            return
        settle(batch, future.result())


def _batches(path: Path, after_line: int) -> Iterator[list[tuple[int, list[str]]]]:
    """Rows after `after_line`, with the line each starts on, BATCH at a time; blank lines are skipped."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        next(reader)
        batch: list[tuple[int, list[str]]] = []
        while True:
            number = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            if number <= after_line or not any(cell.strip() for cell in row):
                continue
            batch.append((number, row))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def _report(outcome: Any, rejected: Any, row: list[str]) -> None:
    column = f" ({outcome.column})" if outcome.column else ""
    print(f"\nline {outcome.line}{column}: {outcome.reason}", file=sys.stderr)
    rejected.writerow([outcome.line, outcome.column or "", outcome.reason, *row])


def _resume_point(path: Path) -> dict[str, Any]:
    """Where an interrupted run of this same file stopped; nothing when the file changed since."""
    try:
        saved = json.loads(progress_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    stat = path.stat()
    if saved.get("size") != stat.st_size or saved.get("mtime_ns") != stat.st_mtime_ns:
        return {}
    return dict(saved)


def _save(path: Path, line: int, counts: Counter[str]) -> None:
    stat = path.stat()
    target = progress_path(path)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps({"line": line, "counts": dict(counts), "size": stat.st_size,
                                     "mtime_ns": stat.st_mtime_ns}), encoding="utf-8")
    temporary.replace(target)
