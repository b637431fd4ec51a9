"""`make run`: migrate, make sure an admin exists, then run the web server and a worker.

Both run as child processes; Ctrl-C (or SIGTERM) stops both cleanly, and if either one
dies the other is stopped too, so nothing is left running in the background.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

STOP_TIMEOUT_S = 20
# Idle seconds gunicorn keeps a client's connection open. Gunicorn's default (2 s) equals
# the editor's pace of saves, so a save often went out on a connection the server was
# closing ("connection reset", 1.9% of saves with exports running); 20 s outlasts the
# editor's debounce and its longest retry back-off (10 s). Docker and the README use it too.
KEEP_ALIVE_SECONDS = 20
# Gunicorn's limits on a request's line and headers (a 400 beyond). Gunicorn has none on
# the body: the studio refuses an oversized one itself (studio/request_limits.py), and so
# should the reverse proxy (client_max_body_size, see README.md). Docker uses them too.
REQUEST_LIMITS = [
    "--limit-request-line", "4094",
    "--limit-request-fields", "60",
    "--limit-request-field_size", "8190",
]  # fmt: skip


def web_command(*, host: str, port: int, workers: int, control_socket: str) -> list[str]:
    """The gunicorn command line of ``make run``."""
    return [
        sys.executable, "-m", "gunicorn", "studio.wsgi",
        "--bind", f"{host}:{port}",
        "--workers", str(workers), "--threads", "4",
        "--keep-alive", str(KEEP_ALIVE_SECONDS),
        *REQUEST_LIMITS,
        "--access-logfile", "-", "--graceful-timeout", "10",
        "--control-socket", control_socket,
    ]  # fmt: skip


class Command(BaseCommand):
    help = "Run the studio on one machine: web server and Celery worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, host: str, port: int, web_workers: int, **options):
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("ensure_admin")

        python = sys.executable
        web = web_command(
            host=host,
            port=port,
            workers=web_workers,
            control_socket=str(settings.DATA_DIR / "gunicorn.ctl"),
        )
        celery = [python, "-m", "celery", "-A", "studio", "worker", "--concurrency", "1",
                  "--without-mingle", "--without-gossip", "--loglevel", "INFO"]  # fmt: skip
        # Two workers: training never blocks imports and thumbnails; the default one also
        # runs the periodic jobs (beat).
        beat_schedule = str(settings.DATA_DIR / "celerybeat-schedule")
        children = {
            "web server": subprocess.Popen(web),
            "worker": subprocess.Popen(
                [
                    *celery,
                    "--queues",
                    "default",
                    "--hostname",
                    "default@%h",
                    "--beat",
                    "--schedule",
                    beat_schedule,
                ]
            ),  # fmt: skip
            "training worker": subprocess.Popen(
                [*celery, "--queues", "train", "--hostname", "train@%h"]
            ),
        }
        self.stdout.write(
            self.style.SUCCESS(f"Detection Studio is running at http://{host}:{port}")
            + "  (Ctrl-C stops the web server and the workers)"
        )
        self.stdout.flush()

        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    self.stderr.write(f"The {name} stopped (exit code {proc.returncode}).")
                    exit_code = 1
                    stopping = True
            time.sleep(0.3)
        self._stop(children)
        self.stdout.write("Stopped the web server and the workers.")
        if exit_code:
            raise SystemExit(exit_code)

    def _stop(self, children: dict[str, subprocess.Popen]) -> None:
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, proc in children.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {name} did not stop in {STOP_TIMEOUT_S} s: killing it.")
                proc.kill()
                proc.wait()
