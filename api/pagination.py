from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

BIGINT = 2**63
INTEGER = re.compile(r"[+-]?\d+")


class InvalidPageSizeError(Exception):
    """`page_size` that is not an integer: answered 400."""


class InvalidCursorError(Exception):
    """A `cursor` Maestro did not hand out (edited, truncated or forged): answered 400."""


class Cursor(CursorPagination):
    """Every list: stable under inserts, opaque `next`/`previous` links. `?page_size=` up to 200.

    A cursor is only decoded, never trusted: its position must be a value of the ordering field
    (a forged one answered 500 when the database was asked to compare an id with "abc")."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def get_page_size(self, request) -> int | None:
        """`page_size` is an integer (one beyond 200 gets 200, one below 1 the default); anything else,
        or the parameter given twice, is a 400 like any other query parameter."""
        values = request.query_params.getlist(self.page_size_query_param)
        if len(values) > 1 or (values and not INTEGER.fullmatch(values[0].strip())):
            raise InvalidPageSizeError("page_size is an integer, given once.")
        return super().get_page_size(request)

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:  # DRF's answer to a cursor it cannot decode: a bad request, not a 404
            raise InvalidCursorError(
                "This cursor is not one the API handed out; start from the first page."
            ) from exc
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, position: object) -> None:
        ordering = self.ordering if isinstance(self.ordering, str) else self.ordering[0]
        field = self._model._meta.get_field(ordering.lstrip("-"))
        try:
            value = field.to_python(position)
        except (ValidationError, ValueError, TypeError, OverflowError) as exc:
            raise InvalidCursorError(
                "This cursor is not one the API handed out; start from the first page."
            ) from exc
        if value is None or (isinstance(value, int) and not -BIGINT <= value < BIGINT):
            raise InvalidCursorError("This cursor is not one the API handed out; start from the first page.")
