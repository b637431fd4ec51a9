"""The API's pagination: ``?limit=`` and ``?offset=``, refused with a 400 when malformed.

DRF's LimitOffsetPagination quietly replaces a bad value by its default
(``?limit=-1&offset=-5`` answers the first page). Here a limit must be a whole number of
at least 1 (above ``max_limit`` it is lowered to it, as DRF does) and an offset a whole
number of at least 0, or the request is refused naming the parameter, before any query.
"""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

from studio.parsers import fits_int64


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    def paginate_queryset(self, queryset, request, view=None):
        self.get_limit(request)  # both parameters are checked before any query
        self.get_offset(request)
        return super().paginate_queryset(queryset, request, view)

    def get_limit(self, request) -> int | None:
        limit = _whole_number(request, self.limit_query_param, minimum=1)
        if limit is None:
            return self.default_limit
        return min(limit, self.max_limit) if self.max_limit else limit

    def get_offset(self, request) -> int:
        offset = _whole_number(request, self.offset_query_param, minimum=0)
        return offset or 0


def _whole_number(request, name: str, *, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    whole = text.isascii() and text.isdecimal() and fits_int64(text)
    value = int(text) if whole else None
    if value is None or value < minimum:
        message = f"a whole number of at least {minimum} is needed, got {raw[:40]!r}."
        raise ValidationError({name: [message]})
    return value
