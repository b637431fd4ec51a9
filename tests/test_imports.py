"""One-way dependencies (issue #16): ``training`` builds on ``labeling``, never the other
way, and no module of an app imports itself back through others (import-linter, with the
contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--config", "pyproject.toml"],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_apps_keep_their_contracts():
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _tree(root: Path, files: dict[str, str]) -> None:
    """A small tree of the three packages, with the repository's own contracts."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = [f"root_packages = {config['root_packages']!r}".replace("'", '"')]
    for contract in config["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{key} = {value!r}".replace("'", '"') for key, value in contract.items()]
    (root / "pyproject.toml").write_text("[tool.importlinter]\n" + "\n".join(lines) + "\n")
    for package in ("labeling", "training", "studio"):
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(text)


@pytest.mark.parametrize(
    ("files", "broken"),
    [
        # labeling importing training, even inside a function
        (
            {"labeling/views.py": "def f():\n    from training import selectors\n",
             "training/selectors.py": ""},
            "labeling is not allowed to import training",
        ),
        # ... or through a third module
        (
            {"labeling/views.py": "import studio.pages\n",
             "studio/pages.py": "import training.selectors\n", "training/selectors.py": ""},
            "labeling is not allowed to import training",
        ),
        # a service and the tasks module importing each other
        (
            {"training/services.py": "def f():\n    from training import tasks\n",
             "training/tasks.py": "def g():\n    from training import services\n"},
            "No cycles are allowed in training",
        ),
    ],
    ids=["direct", "indirect", "cycle"],
)  # fmt: skip
def test_the_contracts_catch(tmp_path, files, broken):
    _tree(tmp_path, files)
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout
