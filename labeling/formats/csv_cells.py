"""Text cells of the CSV files the studio writes, safe to open in a spreadsheet.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken
for a formula by Excel, LibreOffice and Google Sheets (CSV injection). OWASP's rule:
prefix such a cell with a single quote, which the spreadsheet shows as text. Reading
takes the quote off again, so a class named ``=SUM(A1)`` survives an export and import.

A cell that already begins with quotes followed by such a character gets one more, so
``restore`` never strips a quote that was part of the text.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """The cell to write for ``text``."""
    return "'" + text if _needs_quote(text) else text


def restore(cell: str) -> str:
    """The text a cell written by ``neutralise`` stands for (other cells unchanged)."""
    return cell[1:] if cell.startswith("'") and _needs_quote(cell[1:]) else cell


def _needs_quote(text: str) -> bool:
    return text.lstrip("'").startswith(FORMULA_STARTS)
