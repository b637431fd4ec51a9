"""Django for a benchmark script: scratch media, a throw-away database, the load noted.

The database is DATABASE_URL's (a fresh ``test_<name>`` database is created and dropped,
as the test runner does) or, without DATABASE_URL, SQLite in a temporary folder.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS = REPO_ROOT.parent / "shared" / "datasets"


@contextmanager
def scratch_django():
    sys.path.insert(0, str(REPO_ROOT))
    scratch = tempfile.mkdtemp(prefix="studio-bench-")
    os.environ["STUDIO_DATA_DIR"] = scratch
    os.environ.pop("MEDIA_ROOT", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield Path(scratch)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def database_url() -> str:
    """The URL of the scratch database, for a server started in another process."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db.get('USER') or ''}{password}@{host}:{port}/{db['NAME']}"


def machine_note() -> str:
    from django.db import connection

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"load average (1/5/15 min): {load}; cores: {os.cpu_count()}; database: {connection.vendor}"
    )


def median(values: list[float]) -> float:
    return statistics.median(values)
