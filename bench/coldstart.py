"""Cold start as a user feels it: the first real step message handled in a fresh process, over `import boto3`.

The handler runs from the built deployment package, as Lambda runs it: `touchplan package` (cli/package.py:
`chalice package`, then the bytecode and the parsed strategy) is unzipped into a scratch directory, and every
probe is a fresh `python -I -S` whose path holds only the standard library and that directory, with no
writable bytecode cache in play (the package's own .pyc files, compiled for this Python, are what loads).

A moto server runs in another process with the stack of infra/template.yaml (cli/provision.py). For each run
the bench seeds one contact with consent and a due welcome enrolment (with the contact's suppression keys, as
a chain's start writes it), lets the tick claim it, takes the step message off the real steps queue and builds
the SQS event as cli/dispatcher.py does. A fresh process with AWS_ENDPOINT_URL pointing at the server then
imports `functions.queues` and hands the event to `on_step`: the time runs from the moment the process is
spawned to the moment the handler returns with the mail accepted by SES. The same clock, interpreter flags
and path time a fresh process's `import boto3` (the package's boto3). Medians over RUNS runs, taken in turns,
after one warm-up of each (the file system's cache).

Run: .venv/bin/python bench/coldstart.py. Ends with `RESULT coldstart_first_step_ratio=<v> goal=<=2.0`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNS = 7
GOAL = 2.0
STAGE = "bench"
REGION = "eu-west-1"

# Every probe prints the seconds since the parent spawned it: CLOCK_MONOTONIC is one clock for all processes,
# so the interpreter's own start-up is inside the figure. argv[2] is the unzipped package, Lambda's /var/task.
BOTO3 = (
    "import sys, time; sys.path[:0] = [sys.argv[2]]; import boto3; "
    "print(time.clock_gettime(time.CLOCK_MONOTONIC) - float(sys.argv[1]))"
)
FIRST_STEP = (
    "import json, sys, time\n"
    "sys.path[:0] = [sys.argv[2]]\n"
    "event = json.loads(sys.stdin.read())\n"
    "from functions.queues import on_step\n"
    "class Context:\n"
    "    function_name = 'touchplan-bench'\n"
    "    aws_request_id = 'bench'\n"
    "result = on_step(event, Context())\n"
    "elapsed = time.clock_gettime(time.CLOCK_MONOTONIC) - float(sys.argv[1])\n"
    "print(json.dumps({'elapsed': elapsed, 'result': result}))\n"
)
SERVER = (
    "import sys\n"
    "from cli.moto_local import LocalMotoServer\n"
    "server = LocalMotoServer('127.0.0.1', 0)\n"
    "server.start()\n"
    "print(server.port, flush=True)\n"
    "sys.stdin.read()\n"
    "server.stop()\n"
)


def environment(endpoint: str) -> dict[str, str]:
    """The stage, the region, credentials and the moto server, for the probes and the seeding alike."""
    return {
        "PATH": os.environ["PATH"], "TOUCHPLAN_STAGE": STAGE, "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": endpoint,
    }


def unpacked_package(scratch: Path) -> Path:
    """The deployment package `touchplan package` builds, unzipped as Lambda unzips it into /var/task."""
    from cli.package import build

    started = time.monotonic()
    archive = build("dev", scratch / "package")
    task = scratch / "task"
    with zipfile.ZipFile(archive) as package:
        package.extractall(task)
    print(f"deployment package built and unzipped in {time.monotonic() - started:.0f} s "
          f"({archive.stat().st_size / 1e6:.1f} MB)")
    return task


def spawn(code: str, env: dict[str, str], task: Path, stdin: str = "") -> str:
    started = time.clock_gettime(time.CLOCK_MONOTONIC)
    # The function name is how the app knows it runs in Lambda, which sets it; `-I` keeps PYTHON* variables out.
    lambda_env = {**env, "AWS_LAMBDA_FUNCTION_NAME": "touchplan-bench-on_step"}
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, repr(started), str(task)], cwd=task,
                         env=lambda_env, input=stdin, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"probe failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def noon_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now, so quiet hours never defer the measured send."""
    offset = (12 - now.hour + 12) % 24 - 12  # -12..11 hours east of UTC
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # the Etc names count west as positive


def seed(contact_id: str) -> dict[str, Any]:
    """One active contact with email consent and a due welcome enrolment; returns the step's SQS event."""
    from chalicelib import wiring
    from chalicelib.domain.chains import start
    from chalicelib.services.tick import tick
    from chalicelib.store.models import ContactModel
    from chalicelib.store.snapshots import address_keys
    from cli.dispatcher import sqs_event

    now = datetime.now(UTC)
    granted = {"state": "granted", "at": now.isoformat()}
    email = f"{contact_id}@example.com"
    ContactModel(
        contact_id, status="active", email=email, timezone=noon_zone(now), locale="en-GB",
        created_at=now, consents={"email:marketing": granted, "any:data_processing": granted},
    ).save()
    entered = now - timedelta(minutes=1)
    state = start(wiring.strategy().chains["welcome"], None, contact_id, entered)
    assert state is not None
    # As a chain's start saves it (services.chain_events): with the contact's suppression keys, which the
    # tick's message carries so that the step reads the suppressions in its one BatchGetItem.
    wiring.enrollments().save(state, None, entered, addresses=address_keys(email, None))
    tick(wiring.enrollments(), wiring.queues(), wiring.enrollments().shards, now)
    sqs = wiring.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{STAGE}-steps")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   AttributeNames=["All"], MessageAttributeNames=["All"])["Messages"]
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                    for i, m in enumerate(messages)])
    bodies = [json.loads(m["Body"]) for m in messages]
    if [(b["kind"], b["contact_id"]) for b in bodies] != [("step", contact_id)]:
        raise RuntimeError(f"expected one step message for {contact_id}, the tick queued {bodies}")
    return sqs_event(arn, messages)


def sent_touches(contact_id: str) -> list[str]:
    from chalicelib import wiring

    return [t.status for t in wiring.touches().for_contact(contact_id)]


def first_step(env: dict[str, str], task: Path, contact_id: str) -> float:
    event = seed(contact_id)
    probe = json.loads(spawn(FIRST_STEP, env, task, json.dumps(event)))
    touches = sent_touches(contact_id)
    if probe["result"] != {"done": 1, "retried": 0, "dead_lettered": 0} or touches != ["sent"]:
        raise RuntimeError(f"the first step did not send one mail: {probe['result']}, touches {touches}")
    return float(probe["elapsed"])


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)  # chalice package asks for one
        measure(unpacked_package(Path(scratch)))


def measure(task: Path) -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        env = environment(f"http://127.0.0.1:{server.stdout.readline().strip()}")
        os.environ.update(env)
        import boto3

        from chalicelib import wiring
        from cli import provision

        wiring.reset()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto warns about the resource types its CloudFormation skips
            provision.deploy(boto3.session.Session(), STAGE, REGION)
        spawn(BOTO3, env, task)
        first_step(env, task, "warm-up")
        boto3_runs: list[float] = []
        step_runs: list[float] = []
        for run in range(RUNS):
            boto3_runs.append(float(spawn(BOTO3, env, task)))
            step_runs.append(first_step(env, task, f"c-{run}"))
    finally:
        server.communicate("")
    baseline = statistics.median(boto3_runs)
    first = statistics.median(step_runs)
    ratio = first / baseline
    print(f"import boto3 in a fresh process: median {baseline * 1000:.0f} ms over {RUNS} runs")
    print(f"first step message handled in a fresh process (import, services, strategy, one mail sent): "
          f"median {first * 1000:.0f} ms over {RUNS} runs, ratio {ratio:.2f}")
    print(f"RESULT coldstart_first_step_ratio={ratio:.2f} goal=<={GOAL}")


if __name__ == "__main__":
    main()
