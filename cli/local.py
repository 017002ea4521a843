"""`touchplan run`: the embedded local stack on in-memory AWS (moto), with no AWS account.

One process: a moto server, the resources of infra/template.yaml, the real API (Chalice's local gateway,
authorizer included), and a dispatcher that feeds SQS messages and schedule ticks to the real handlers.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from http.server import HTTPServer
from pathlib import Path
from typing import Any

from cli import stack as running

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
LOCAL_PREFIX = "/_local/"
BACKLOG = 1024  # a burst of sign-ups queues instead of being reset (the default listen backlog is 5)
API_THREADS = 32  # requests handled at once; memory grew with every concurrent request when each had a thread
IDLE_SECONDS = 30  # a kept-alive connection that sends nothing gives its thread back
STOP_SECONDS = 2  # what `stop` waits for the workers in all: a batch cut short returns to its queue, as in Lambda


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("run", help="run the local stack: API, workers and schedules on moto")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("TOUCHPLAN_API_PORT", "8000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("TOUCHPLAN_MOTO_PORT", "5000")))
    parser.add_argument(
        "--clock-speed",
        type=float,
        default=float(os.environ.get("TOUCHPLAN_CLOCK_SPEED", "1")),
        help="run schedules and the app's clock N times faster (a week of chains in minutes)",
    )
    parser.set_defaults(func=run)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_environment(api_port: int, moto_port: int, clock_speed: float) -> dict[str, str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(config["stages"]["local"]["environment_variables"])
    env.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "TOUCHPLAN_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
            "TOUCHPLAN_CLOCK_SPEED": str(clock_speed),
            "TOUCHPLAN_CLOCK_EPOCH": str(time.time()),
        }
    )
    return env


class PooledServer(HTTPServer):
    """Connections are handled by a fixed pool of threads; the ones beyond it wait, accepted, for a thread."""

    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        super().__init__(address, handler)
        self.pool = ThreadPoolExecutor(API_THREADS, thread_name_prefix="api")

    def process_request(self, request: Any, client_address: Any) -> None:
        self.pool.submit(self._handle, request, client_address)

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # as socketserver does: one broken connection is reported and the server goes on
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)


class LocalStack:
    """Starts and stops the pieces in order; `stop` is safe to call from a signal handler's thread."""

    def __init__(self, api_port: int, moto_port: int, clock_speed: float = 1.0) -> None:
        self.api_port = api_port or free_port()
        self.moto_port = moto_port or free_port()
        self.clock_speed = clock_speed
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._moto: Any = None
        self._api: Any = None
        self.key = ""
        self.ingest_key = ""

    def start(self) -> None:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update(local_environment(self.api_port, self.moto_port, self.clock_speed))
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        warnings.simplefilter("ignore")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        from cli.moto_local import LocalMotoServer

        self._moto = LocalMotoServer("127.0.0.1", self.moto_port)
        self._moto.start()
        self._provision()
        self._start_api()
        self._start_dispatcher()

    def _provision(self) -> None:
        import boto3

        from cli import provision

        provision.deploy(boto3.session.Session(), "local", REGION)
        from chalicelib import wiring
        from chalicelib.store.keys import ApiKeyRepository

        keys = ApiKeyRepository()
        _, self.key = keys.create("service-manager", None, "local stack", wiring.clock().now())
        _, self.ingest_key = keys.create("ingest", None, "local stack", wiring.clock().now())
        from chalicelib.settings import get_settings
        from chalicelib.strategy.loader import check_strategy

        # Validated in full at start-up, templates rendered: a broken file stops the stack with every error listed.
        check_strategy(get_settings().strategy_path)

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, LocalDevServer

        from cli import outbox
        from cli.gateway import answer_like_the_deployed_gateway
        from cli.isolation import isolate_requests

        app = importlib.import_module("app").app
        isolate_requests(app)
        answer_like_the_deployed_gateway()

        class Handler(ChaliceRequestHandler):
            timeout = IDLE_SECONDS

            def _generic_handle(self) -> None:
                if self.path.startswith(LOCAL_PREFIX):
                    status, content_type, body = outbox.handle(self.command, self.path, self._read_body())
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super()._generic_handle()

            def _read_body(self) -> bytes:
                length = int(self.headers.get("content-length", "0") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        config = Config.create(chalice_stage="local", app_name="touchplan", lambda_timeout=29)
        self._api = LocalDevServer(
            app, config, "127.0.0.1", self.api_port, handler_cls=Handler, server_cls=PooledServer
        )
        thread = threading.Thread(target=self._api.server.serve_forever, name="api", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_dispatcher(self) -> None:
        from cli.dispatcher import Dispatcher

        app = importlib.import_module("app").app
        dispatcher = Dispatcher(app, self.clock_speed, self.stopping)
        for target in dispatcher.loops():
            thread = threading.Thread(target=target, name="dispatcher", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        if self._api is not None:
            self._api.server.shutdown()
            self._api.server.server_close()
        deadline = time.monotonic() + STOP_SECONDS
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._moto is not None:
            self._moto.stop()


def run(args: argparse.Namespace) -> int:
    stack = LocalStack(args.api_port, args.moto_port, args.clock_speed)
    finished = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        finished.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # `kill -USR1 <pid>` prints every thread's stack, from C: it answers even when Python code cannot run.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    from chalicelib.domain.strategy import StrategyError

    try:
        stack.start()
    except OSError as exc:
        print(f"touchplan run: cannot start: {exc} (set TOUCHPLAN_API_PORT / TOUCHPLAN_MOTO_PORT)", file=sys.stderr)
        stack.stop()
        return 1
    except StrategyError as exc:
        print("touchplan run: the strategy file is not valid:", *exc.errors, sep="\n  ", file=sys.stderr)
        stack.stop()
        return 2
    api_url, moto_url = f"http://127.0.0.1:{stack.api_port}", f"http://127.0.0.1:{stack.moto_port}"
    running.record(running.RunningStack(moto_url, api_url, os.environ["TOUCHPLAN_STAGE"], REGION, os.getpid()))
    print(f"API: http://127.0.0.1:{stack.api_port}", flush=True)
    print(f"moto: http://127.0.0.1:{stack.moto_port}", flush=True)
    print(f"service-manager key: {stack.key}", flush=True)
    print(f"ingest key: {stack.ingest_key}", flush=True)
    print(f"outbox: http://127.0.0.1:{stack.api_port}{LOCAL_PREFIX}outbox", flush=True)
    finished.wait()
    print("stopping", flush=True)
    running.forget(os.getpid())
    stack.stop()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything the stack held was in memory: skip the interpreter's teardown, which garbage-collects moto's
    # whole heap and took seconds to minutes after a burst.
    os._exit(0)

