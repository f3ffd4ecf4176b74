"""Immutable snapshots of runtime configuration, swapped atomically on LOAD … TO RUNTIME."""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Iterator


@dataclass(frozen=True)
class Snapshot:
    """Rows of one runtime table. A holder keeps a consistent set: a load makes a new object."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    @classmethod
    def from_dicts(cls, columns: list[str], rows: list[dict[str, Any]]) -> "Snapshot":
        return cls(tuple(columns), dicts_to_tuples(columns, rows))

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def dicts_to_tuples(columns: list[str] | tuple[str, ...], rows: list[dict[str, Any]]) -> tuple[tuple[Any, ...], ...]:
    """Rows as tuples in column order; a missing key is None. itemgetter does the common case in C."""
    if not isinstance(rows, (list, tuple)):
        rows = list(rows)  # iterated twice if a key is missing
    if len(columns) > 1:
        try:
            return tuple(map(itemgetter(*columns), rows))
        except KeyError:
            pass
    return tuple(tuple(r.get(c) for c in columns) for r in rows)
