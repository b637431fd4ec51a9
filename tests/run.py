"""`make test`: pick the services the suite runs against, then run pytest.

PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are used when they answer;
otherwise the suite says so loudly and runs on the embedded defaults (SQLite and the
filesystem broker). With STUDIO_REQUIRE_SERVICES=1 (CI) a missing service is a failure.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def banner(lines: list[str]) -> None:
    width = max(len(line) for line in lines) + 4
    print("!" * width, file=sys.stderr)
    for line in lines:
        print(f"! {line.ljust(width - 4)} !", file=sys.stderr)
    print("!" * width, file=sys.stderr)


def main() -> int:
    required = os.environ.get("STUDIO_REQUIRE_SERVICES", "") in {"1", "true", "yes"}
    env = os.environ
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "STATIC_ROOT"):
        env.pop(name, None)
    env["STUDIO_DATA_DIR"] = tempfile.mkdtemp(prefix="studio-test-")
    missing = []
    embedded_only = os.environ.get("STUDIO_TEST_SERVICES") == "embedded"  # for a local check
    if not embedded_only and answers("127.0.0.1", 5432):
        env["DATABASE_URL"] = POSTGRES_URL
    else:
        missing.append("PostgreSQL at 127.0.0.1:5432")
    if not embedded_only and answers("127.0.0.1", 6379):
        env["CELERY_BROKER_URL"] = REDIS_URL
        env["STUDIO_TEST_REDIS"] = REDIS_URL
    else:
        missing.append("Redis at 127.0.0.1:6379")
    if missing:
        banner(
            [f"NOT RUNNING: {m}" for m in missing]
            + ["The suite runs on the embedded defaults (SQLite, filesystem broker) instead."]
        )
        if required:
            print("STUDIO_REQUIRE_SERVICES=1: a missing service is a failure.", file=sys.stderr)
            return 2
    else:
        print("Test services: PostgreSQL and Redis on 127.0.0.1.", file=sys.stderr)
    args = [sys.executable, "-m", "pytest", *sys.argv[1:]]
    os.execv(sys.executable, args)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
