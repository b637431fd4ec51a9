"""The engine must never import Django (it runs in workers, notebooks and the CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES = [
    "training.ml",
    "training.ml.config",
    "training.ml.data",
    "training.ml.transforms",
    "training.ml.models",
    "training.ml.predict",
    "training.ml.engine",
    "training.ml.evaluate",
    "training.ml.export",
    "training.ml.runtime",
    "training.ml.blueonyx",
    "training.ml.checkpoint",
    "training.ml.finetune",
    "training.ml.bench",
    "training.ml.__main__",
]


def test_importing_the_engine_does_not_import_django() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
