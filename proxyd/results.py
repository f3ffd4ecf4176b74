"""What a statement produces: an OK packet or a result set (errors are ProxydError)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


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
    more: list["Ok | ResultSet"] | None = None  # results that followed in the same reply (see ResultSet)


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
    # Further results of the same statement, in order (a CALL: each result set of the procedure,
    # then its final OK); the client gets them all. A hook that replaces the result replaces them too.
    more: list["Ok | ResultSet"] | None = None


_COLUMNS, _ROWS, _TYPES = ResultSet.columns, ResultSet.rows, ResultSet.types  # the slot descriptors


class RawResultSet(ResultSet):
    """A backend's result set, still as the server's packets, decoded on first use.

    ``packets`` is the whole reply as framed by the server (column count, definitions, rows,
    terminator; sequence ids from 1), so the SQL port can relay it unchanged when nobody read
    ``columns``, ``rows`` or ``types`` and the client frames results like the backend connection
    (``eof_deprecated``). Reading any of the three decodes it once; from then on it is an ordinary
    ResultSet (and is written the ordinary way, since a reader may have changed the rows).
    """

    __slots__ = ("packets", "row_count", "eof_deprecated", "status", "binary", "_decode", "decoded")

    def __init__(self, packets: bytes, row_count: int, eof_deprecated: bool, status: int,
                 decode: Callable[[], tuple[Sequence[str], Sequence[Sequence[Any]], Sequence[int] | None]], *,
                 binary: bool = False):
        self.packets, self.row_count, self.eof_deprecated = packets, row_count, eof_deprecated
        self.binary = binary  # rows in the binary protocol (COM_STMT_EXECUTE)
        self.status = status  # server status flags in the terminator
        self._decode, self.decoded = decode, False
        self.warnings = []
        self.more = None

    def _materialize(self) -> None:
        if not self.decoded:
            columns, rows, types = self._decode()
            _COLUMNS.__set__(self, columns)
            _ROWS.__set__(self, rows)
            _TYPES.__set__(self, types)
            self.decoded = True

    def _get(slot: Any) -> Any:  # noqa: N805 - builds the properties below
        def get(self: "RawResultSet") -> Any:
            self._materialize()
            return slot.__get__(self)

        def put(self: "RawResultSet", value: Any) -> None:
            self._materialize()
            slot.__set__(self, value)

        return property(get, put)

    columns = _get(_COLUMNS)  # type: ignore[assignment]
    rows = _get(_ROWS)  # type: ignore[assignment]
    types = _get(_TYPES)  # type: ignore[assignment]
    del _get

    def __repr__(self) -> str:
        state = "decoded" if self.decoded else f"{len(self.packets)} bytes"
        return f"RawResultSet({self.row_count} rows, {state})"


def row_count(result: ResultSet) -> int:
    """Rows in a result set, without decoding a raw one."""
    return result.row_count if result.__class__ is RawResultSet else len(result.rows)  # type: ignore[attr-defined]


Result = Ok | ResultSet
