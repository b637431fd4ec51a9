"""The README stays true: its commands exist and every setting is documented."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def settings_variables() -> set[str]:
    """Every environment variable that studio/settings.py reads."""
    source = (REPO_ROOT / "studio" / "settings.py").read_text()
    names = set(re.findall(r"(?:env_\w+|database_from_url|require_url)\(\s*\"(\w+)\"", source))
    assert "DATABASE_URL" in names and "SECRET_KEY" in names
    return names | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HOST", "PORT"}


def test_every_setting_is_in_the_configuration_table():
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    missing = settings_variables() - documented
    assert not missing, f"document these variables in README.md: {sorted(missing)}"


def test_quick_start_commands_exist():
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in re.findall(r"^make (\w+)", README, re.M):
        assert re.search(rf"^{target}:", makefile, re.M), f"README names make {target}"
    assert "make run" in README and "make test" in README
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
