"""Request bodies name only the fields an endpoint accepts: 400 for any other.

A field the server does not know (a typo, a field of the output such as `role` or `id`,
a field of another endpoint) is refused with 400 naming it, instead of being silently
dropped: a client must never believe that a change was made (the mass-assignment class
of bugs; CVAT refuses unexpected fields the same way). The check runs in
`to_internal_value`, before DRF discards unknown keys (`validate` sees them gone). Every
input serializer of the API derives from `StrictSerializer`; a view without one calls
`refuse_unknown_fields`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from rest_framework import serializers

# Sent by Django forms, not by the client's intent: always accepted.
TRANSPORT_FIELDS = frozenset({"csrfmiddlewaretoken"})


def refuse_unknown_fields(data: Any, accepted: Iterable[str]) -> None:
    """ValidationError naming every key of ``data`` (a dict or QueryDict) outside
    ``accepted``; nothing for a body that is not a mapping (other checks refuse it)."""
    if not isinstance(data, Mapping):
        return
    accepted = set(accepted)
    unknown = sorted(str(key) for key in data if key not in accepted | TRANSPORT_FIELDS)
    if unknown:
        known = ", ".join(sorted(accepted)) or "no fields"
        message = f"Unknown field (this endpoint accepts {known})."
        raise serializers.ValidationError({name: [message] for name in unknown})


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not declare.

    Nested StrictSerializers (one object or ``many=True``) check their own objects.
    ``also_accepted`` names body fields the view reads itself (uploaded files). Input
    serializers declare only what a client may set (no read-only fields), so what is not
    declared is what the endpoint would have ignored.
    """

    also_accepted: ClassVar[frozenset[str]] = frozenset()

    def to_internal_value(self, data):
        refuse_unknown_fields(data, set(self.fields) | self.also_accepted)
        return super().to_internal_value(data)
