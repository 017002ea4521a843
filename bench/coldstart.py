"""Cold start as a user feels it: the first real step message handled in a fresh process, over `import boto3`.

A moto server runs in another process with the stack of infra/template.yaml (cli/provision.py). For each run
the bench seeds one contact with consent and a due welcome enrolment, lets the tick claim it, takes the step
message off the real steps queue and builds the SQS event as cli/dispatcher.py does. A fresh `python -c`
process with AWS_ENDPOINT_URL pointing at the server then imports `functions.queues` and hands the event to
`on_step`: the time runs from the moment the process is spawned to the moment the handler returns with the
mail accepted by SES. The same clock times a fresh process's `import boto3`. Medians over RUNS runs, taken in
turns, after one warm-up of each (bytecode caches).

Run: .venv/bin/python bench/coldstart.py. Ends with `RESULT coldstart_first_step_ratio=<v> goal=<=2.0`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import warnings
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
# so the interpreter's own start-up is inside the figure.
BOTO3 = (
    "import sys, time; import boto3; "
    "print(time.clock_gettime(time.CLOCK_MONOTONIC) - float(sys.argv[1]))"
)
FIRST_STEP = (
    "import json, sys, time\n"
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
    # Bytecode caches on, whatever the shell says: site-packages ship compiled, and a project compiled afresh in
    # every run would add its compile time to one side of the ratio only.
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **inherited, "PYTHONPATH": str(ROOT), "TOUCHPLAN_STAGE": STAGE, "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": endpoint,
    }


def spawn(code: str, env: dict[str, str], stdin: str = "") -> str:
    started = time.clock_gettime(time.CLOCK_MONOTONIC)
    out = subprocess.run([sys.executable, "-c", code, repr(started)], cwd=ROOT, env=env, input=stdin,
                         capture_output=True, text=True)
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
    from cli.dispatcher import sqs_event

    now = datetime.now(UTC)
    granted = {"state": "granted", "at": now.isoformat()}
    ContactModel(
        contact_id, status="active", email=f"{contact_id}@example.com", timezone=noon_zone(now), locale="en-GB",
        created_at=now, consents={"email:marketing": granted, "any:data_processing": granted},
    ).save()
    entered = now - timedelta(minutes=1)
    state = start(wiring.strategy().chains["welcome"], None, contact_id, entered)
    assert state is not None
    wiring.enrollments().save(state, None, entered)
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


def first_step(env: dict[str, str], contact_id: str) -> float:
    event = seed(contact_id)
    probe = json.loads(spawn(FIRST_STEP, env, json.dumps(event)))
    touches = sent_touches(contact_id)
    if probe["result"] != {"done": 1, "retried": 0, "dead_lettered": 0} or touches != ["sent"]:
        raise RuntimeError(f"the first step did not send one mail: {probe['result']}, touches {touches}")
    return float(probe["elapsed"])


def main() -> None:
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
        spawn(BOTO3, env)
        first_step(env, "warm-up")
        boto3_runs: list[float] = []
        step_runs: list[float] = []
        for run in range(RUNS):
            boto3_runs.append(float(spawn(BOTO3, env)))
            step_runs.append(first_step(env, f"c-{run}"))
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
