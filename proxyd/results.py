"""What a statement produces: an OK packet or a result set (errors are ProxydError)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass(slots=True)
class Warning_:
    level: str  # 'Note' | 'Warning' | 'Error'
    code: int
    message: str


@dataclass(slots=True)
class Ok:
    """An OK packet: rows affected, last insert id, info text and warnings."""

    affected_rows: int = 0
    last_insert_id: int = 0
    info: str = ""
    warnings: list[Warning_] = field(default_factory=list)


@dataclass(slots=True)
class ResultSet:
    """Column names and rows (NULL stays None).

    ``types`` optionally gives each column's MySQL type code (``mysql_mimic.types.ColumnType``);
    without it every column is sent as VAR_STRING text, as the admin port does.
    """

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    warnings: list[Warning_] = field(default_factory=list)
    types: Sequence[int] | None = None


Result = Ok | ResultSet
