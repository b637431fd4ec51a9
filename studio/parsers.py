"""The API's parsers: bounded depth, 64-bit integers and finite numbers only.

Python's json module recurses once per nesting level (a body nested ~1,000 levels deep
raises RecursionError), turns ``1e400`` into infinity and accepts integers of any size,
which the database then cannot take (SQLite raises OverflowError). The JSON parser
refuses all three with a 400 that names where in the body the value is
(``boxes[0].bbox[2]``), the form parsers a field holding a whole number beyond 64 bits,
before any view sees the data.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.utils.json import strict_constant

MAX_DEPTH = 64  # far more than any body of the API needs (a box save is 4 deep)
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what a PostgreSQL bigint (and SQLite) can hold
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def in_int64(value: int) -> bool:
    return INT_MIN <= value <= INT_MAX


def fits_int64(text: str) -> bool:
    """Whether a whole number written in decimal fits 64 bits (checked without converting
    a long run of digits: int() refuses more than 4,300 of them)."""
    digits = text.lstrip("+-").lstrip("0")
    return len(digits) < 19 or (len(digits) == 19 and in_int64(int(text)))


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            data = json.load(
                codecs.getreader(encoding)(stream),
                parse_constant=strict_constant if self.strict else None,
                parse_int=_parse_int,
                parse_float=_parse_float,
            )
        except RecursionError:
            raise ParseError(
                f"JSON parse error - the body is nested deeper than {MAX_DEPTH} levels."
            ) from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        problem = body_problem(data)
        if problem:
            raise ParseError(problem)
        return data


class _OutOfRange:
    """A number the body may not hold, kept as its text until body_problem finds where."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = short_text(text)


def short_text(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def _parse_int(text: str) -> int | _OutOfRange:
    return int(text) if fits_int64(text) else _OutOfRange(text)


def _parse_float(text: str) -> float | _OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else _OutOfRange(text)


def body_problem(data: Any) -> str | None:
    """Why a parsed body is refused (too deep, a number out of range), naming where.

    Only containers are pushed on the stack: a 2 MB box save is walked in ~30 ms.
    """
    if type(data) is _OutOfRange:
        return _range_message(None, data)
    stack: list[tuple[Any, tuple | None, int]] = [(data, None, 1)]
    while stack:
        value, path, depth = stack.pop()
        if type(value) is not dict and type(value) is not list:
            continue
        if depth > MAX_DEPTH:
            return f"JSON parse error - the body is nested deeper than {MAX_DEPTH} levels."
        for key, child in value.items() if type(value) is dict else enumerate(value):
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, (path, key), depth + 1))
            elif kind is _OutOfRange:
                return _range_message((path, key), child)
    return None


def _range_message(path: tuple | None, value: _OutOfRange) -> str:
    return (
        f"{_path_text(path)}: {value.text} is out of range (numbers must be finite, "
        f"integers between {INT_MIN} and {INT_MAX})."
    )


def _path_text(path: tuple | None) -> str:
    """``boxes[0].bbox[2]`` from the linked (parent, key) pairs; ``the body`` at the top."""
    keys = []
    while path is not None:
        path, key = path
        keys.append(key)
    text = ""
    for key in reversed(keys):
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "the body"


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return _checked_form(super().parse(stream, media_type, parser_context))


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        _checked_form(result.data)
        return result


def _checked_form(data):
    problem = out_of_range_field(data)
    if problem:
        name, reason = problem
        raise ValidationError({name: [reason]})
    return data


def out_of_range_field(data) -> tuple[str, str] | None:
    """The first field of a form or a query string (a QueryDict) that holds a whole number
    beyond 64 bits, and why it is refused."""
    for name, values in data.lists():
        for value in values:
            text = value.strip() if isinstance(value, str) else ""
            if _WHOLE_NUMBER.fullmatch(text) and not fits_int64(text):
                return name, (
                    f"{short_text(text)} is out of range (whole numbers are between "
                    f"{INT_MIN} and {INT_MAX})."
                )
    return None
