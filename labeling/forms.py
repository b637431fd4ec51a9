"""Query-string forms of the pages (the API validates with its serializers)."""

from __future__ import annotations

from django import forms

from labeling.models import ImageStatus, Split


class ImageFilterForm(forms.Form):
    split = forms.ChoiceField(choices=[("", "any split"), *Split.choices], required=False)
    category = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    status = forms.ChoiceField(choices=[("", "any status"), *ImageStatus.choices], required=False)
    no_objects = forms.TypedChoiceField(
        choices=[("", "any"), ("true", "marked no objects"), ("false", "not marked")],
        coerce=lambda value: value == "true",
        required=False,
        empty_value=None,
    )

    def __init__(self, *args, categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "any class")] + [
            (str(c.pk), c.name) for c in categories
        ]

    def filters(self) -> dict:
        """The valid filters (an invalid value is ignored, as if not given)."""
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in ("", None)}
