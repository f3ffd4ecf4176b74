"""Immutable snapshots of runtime configuration, swapped atomically on LOAD … TO RUNTIME."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator


@dataclass(frozen=True)
class Snapshot:
    """Rows of one runtime table. A holder keeps a consistent set: a load makes a new object."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    @classmethod
    def from_dicts(cls, columns: list[str], rows: list[dict[str, Any]]) -> "Snapshot":
        return cls(tuple(columns), tuple(tuple(r.get(c) for c in columns) for r in rows))

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)
