"""A data row that remembers where it came from, so errors can name ``file:line``."""

from __future__ import annotations


class Row(dict):
    """A data row that remembers where it came from (``file:line``), for error messages."""

    where: str | None = None

    @classmethod
    def at(cls, data: dict, where: str | None) -> "Row":
        row = cls(data)
        row.where = where
        return row


def where_of(row: dict, fallback: str | None = None) -> str | None:
    return getattr(row, "where", None) or fallback
