"""Choice fields over a workspace's few rows (teams, agents), read as one list.

Django's ``ModelChoiceIterator`` reads a queryset without prefetches through
``.iterator()``, which on PostgreSQL opens a server-side cursor (``DECLARE … WITH HOLD``
outside a transaction) for every select each time a form renders: a few milliseconds a
field for a handful of rows, on pages agents open all day. A workspace's teams and agents
are few, so they are read as one plain query.
"""

from collections.abc import Iterator
from typing import Any

from django import forms
from django.forms.models import ModelChoiceIterator


class ListedChoiceIterator(ModelChoiceIterator):
    def __iter__(self) -> Iterator[Any]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in list(self.queryset):
            yield self.choice(obj)


class WorkspaceChoiceField(forms.ModelChoiceField):
    """A ``ModelChoiceField`` whose choices are read with one ordinary query."""

    iterator = ListedChoiceIterator
