"""Query-string forms of the pages (the API validates with its serializers)."""

from __future__ import annotations

from django import forms

from labeling.models import ImageStatus, Split
from labeling.selectors import IMAGE_SORTS


def _yes(value: str) -> bool:
    return value == "true"


class ImageFilterForm(forms.Form):
    q = forms.CharField(label="file name", required=False, max_length=255, strip=True)
    split = forms.ChoiceField(choices=[("", "any split"), *Split.choices], required=False)
    category = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    status = forms.ChoiceField(choices=[("", "any status"), *ImageStatus.choices], required=False)
    no_objects = forms.TypedChoiceField(
        choices=[("", "any"), ("true", "marked no objects"), ("false", "not marked")],
        coerce=_yes,
        required=False,
        empty_value=None,
    )
    tagged = forms.TypedChoiceField(
        choices=[("", "tagged or not"), ("true", "tagged"), ("false", "untagged")],
        coerce=_yes,
        required=False,
        empty_value=None,
    )
    boxes = forms.ChoiceField(
        choices=[("", "any boxes"), ("tiny", "a tiny box"), ("huge", "a huge box")],
        required=False,
    )
    assignee = forms.TypedChoiceField(
        label="assigned to", coerce=int, required=False, empty_value=None
    )
    sort = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in IMAGE_SORTS.items()], required=False
    )

    def __init__(self, *args, categories=(), members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "anyone or no one")] + [
            (str(user_id), username) for user_id, username in members
        ]
        self.fields["category"].choices = [("", "any class")] + [
            (str(c.pk), c.name) for c in categories
        ]

    def filters(self) -> dict:
        """The valid filters (an invalid value is ignored, as if not given)."""
        self.is_valid()
        return {
            k: v
            for k, v in self.cleaned_data.items()
            if v not in ("", None) and not (k == "sort" and v == "oldest")
        }
