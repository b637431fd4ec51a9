"""Import error texts and reports name the user's files, never a server path.

The format readers say where they looked (``no COCO JSON file in /tmp/studio-import-x/
dataset``), Pillow names the file it could not open, an OSError its path. An import runs
in a temporary folder of the server (and the worker's copy of the upload in another), so
before a text is stored for the user the import swaps those folders for what the user
knows: the upload's name, and paths inside the upload relative to it.

    names = PublicNames()
    names.add(Path("/tmp/studio-import-x/dataset"), "cells.zip")
    names.text("no COCO JSON file in /tmp/studio-import-x/dataset")  # ... in cells.zip
    names.text("cannot open '/tmp/studio-import-x/dataset/data/a.png'")  # '... data/a.png'

Any other path under a server folder (the temporary folder, MEDIA_ROOT, the data folder,
the code) is cut to its last component.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path, PurePosixPath

from django.conf import settings

from labeling.formats import ImportReport, Problem


class PublicNames:
    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def add(self, path: Path, name: str) -> None:
        """Show ``path`` as ``name``, and a path inside it relative to it."""
        for form in {str(path), str(Path(path).resolve())}:
            self._known[form] = name
            self._known[form.rstrip("/") + "/"] = ""

    def text(self, text: str) -> str:
        for server in sorted(self._known, key=len, reverse=True):  # the deepest first
            text = text.replace(server, self._known[server])
        return server_paths_hidden(text)

    def clean(self, report: ImportReport) -> None:
        """Rewrite the report's items and messages in place."""
        report.problems[:] = [
            Problem(problem.kind, self.text(problem.item), self.text(problem.message))
            for problem in report.problems
        ]


def server_paths_hidden(text: str) -> str:
    """``text`` with every path under a server folder cut to its last component."""
    return _server_path_pattern().sub(_last_component, text)


def _server_path_pattern() -> re.Pattern[str]:
    roots = {tempfile.gettempdir(), settings.MEDIA_ROOT, settings.DATA_DIR, settings.BASE_DIR}
    forms = {str(form).rstrip("/") for root in roots for form in (root, Path(root).resolve())}
    alternatives = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?:{alternatives})(?=[/\s'\",;:)\]]|$)(/[^\s'\",;:)\]]*)?")


def _last_component(match: re.Match[str]) -> str:
    return PurePosixPath(match.group(1) or "/").name or "a server folder"
