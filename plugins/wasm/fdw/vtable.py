"""The apsw virtual-table module ``proxyd_wasm_fdw``: foreign tables as SQLite virtual tables.

Planning never sets ``omit`` nor ``orderByConsumed``: SQLite re-checks every qual and sorts itself,
so quals, sorts and limit are hints a guest may ignore. Every plan costs the same, large amount,
which makes SQLite put a foreign table in the outer loop of a join (one remote scan, not one per
outer row). Callbacks run on the statement's worker thread (the engine offloads statements naming
foreign tables), each guest call under the server's deadline, fuel and memory limits.
"""

from __future__ import annotations

import json
from typing import Any

import apsw

from plugins.wasm.fdw import guest as fdw
from plugins.wasm.fdw.columns import declaration, row_converter, to_guest
from plugins.wasm.fdw.servers import ForeignTable
from plugins.wasm.runtime import GuestFault, GuestInstance
from proxyd.errors import ProxydError

MODULE_NAME = "proxyd_wasm_fdw"
_OPS = {
    apsw.SQLITE_INDEX_CONSTRAINT_EQ: "=", apsw.SQLITE_INDEX_CONSTRAINT_GT: ">",
    apsw.SQLITE_INDEX_CONSTRAINT_GE: ">=", apsw.SQLITE_INDEX_CONSTRAINT_LT: "<",
    apsw.SQLITE_INDEX_CONSTRAINT_LE: "<=", apsw.SQLITE_INDEX_CONSTRAINT_NE: "<>",
    apsw.SQLITE_INDEX_CONSTRAINT_IS: "is", apsw.SQLITE_INDEX_CONSTRAINT_ISNOT: "is not",
    apsw.SQLITE_INDEX_CONSTRAINT_ISNULL: "is null", apsw.SQLITE_INDEX_CONSTRAINT_ISNOTNULL: "is not null",
    apsw.SQLITE_INDEX_CONSTRAINT_LIKE: "like", apsw.SQLITE_INDEX_CONSTRAINT_GLOB: "glob",
}
_LIMIT, _OFFSET = apsw.SQLITE_INDEX_CONSTRAINT_LIMIT, apsw.SQLITE_INDEX_CONSTRAINT_OFFSET
_COST = 1e6


class FdwModule:
    """Registered on every session connection; ``service`` resolves tables and runs the guests."""

    def __init__(self, service: Any):
        self.service = service

    def Create(self, db: Any, modulename: str, dbname: str, tablename: str, *args: str) -> tuple[str, Any]:
        # the first argument names the table: the attach name differs between connections
        label = args[0].strip().strip("'") if args else f"{dbname}.{tablename}"
        schema, _, name = label.partition(".")
        table = self.service.resolve(schema, name)
        return declaration(table.columns), ForeignVTable(self.service, table)

    Connect = Create


class ForeignVTable:
    def __init__(self, service: Any, table: ForeignTable):
        self.service, self.table = service, table
        self.stats = service.table_stats(table)
        self.convert = row_converter(table.columns)
        # synthetic rowid -> rowid_column cell, for non-integer rowid columns; SQLite asks for rowids
        # only in UPDATE/DELETE, and each write transaction starts afresh
        self.rowcells: dict[int, Any] = {}
        self.modify: fdw.FdwCall | None = None

    # -- planning ----------------------------------------------------------------------------------
    def BestIndexObject(self, o: Any) -> bool:
        cols = self.table.columns
        quals: list[tuple[int, str]] = []
        limits: list[tuple[int, str]] = []
        for i in range(o.nConstraint):
            if not o.get_aConstraint_usable(i):
                continue
            op, col = o.get_aConstraint_op(i), o.get_aConstraint_iColumn(i)
            if op in (_LIMIT, _OFFSET):
                limits.append((i, "count" if op == _LIMIT else "offset"))
            elif op in _OPS and 0 <= col < len(cols):
                quals.append((i, f"{col}:{_OPS[op]}"))
        used = quals or limits  # a limit is a hint only for a scan without quals
        for n, (i, _) in enumerate(used, 1):
            o.set_aConstraintUsage_argvIndex(i, n)
        sorts = [[o.get_aOrderBy_iColumn(i), bool(o.get_aOrderBy_desc(i))] for i in range(o.nOrderBy)]
        needed = set(o.colUsed)  # SQLite's own count: a column past 62 shows as 63, "and the rest"
        if self.table.rowid_column is not None:
            needed.add(self.table.rowid_column)  # rowids come from it
        used_cols = [i for i in range(len(cols)) if i in needed or (i >= 63 and 63 in needed)]
        o.idxStr = json.dumps([[what for _, what in used], sorts, used_cols])
        o.estimatedCost = _COST
        o.estimatedRows = self.table.estimated_rows
        return True

    def Open(self) -> ForeignCursor:
        return ForeignCursor(self)

    def Disconnect(self) -> None:
        self._end_modify(commit=False)

    def Destroy(self) -> None:
        if not self.service.dropping:
            raise ProxydError(f"'{self.table.label}' is a foreign table; change it on the admin port (wasm_fdw_tables)",
                              1105, "HY000")

    # -- instances ------------------------------------------------------------------------------------
    def start_instance(self, warnings: list[str] | None = None) -> fdw.FdwCall:
        """A ready instance of the server's module with ``fdw_init`` done for this table."""
        server = self.service.live_server(self.table)
        inst: GuestInstance = server.module.pool.acquire()
        st = fdw.FdwCall(inst, server, self.table.label, self.stats, warnings)
        try:
            if inst.has("_initialize") and not getattr(inst, "fdw_initialized", False):
                inst.call("_initialize", (), st)
            inst.fdw_initialized = True
        except GuestFault as exc:
            server.module.pool.release(inst)
            raise fdw.fail(st, "_initialize", str(exc)) from None
        self.call(st, "fdw_init", {
            "abi": 1, "host_version": fdw.HOST_VERSION,
            "server": {"name": server.name, "options": server.options},
            "table": {"schema": self.table.schema, "name": self.table.name, "options": self.table.options,
                      "columns": [c.describe() for c in self.table.columns]},
        })
        return st

    def call(self, st: fdw.FdwCall, routine: str, request: Any) -> Any:
        try:
            return fdw.call_routine(st, routine, request)
        except fdw.FdwError:
            self.release(st)
            raise

    def release(self, st: fdw.FdwCall) -> None:
        """Hand the instance back to its pool (a broken one is dropped there)."""
        if st.inst is not None:
            st.server.module.pool.release(st.inst)
            st.inst = None  # type: ignore[assignment]

    # -- modify -------------------------------------------------------------------------------------
    def _modifying(self) -> fdw.FdwCall:
        server = self.service.live_server(self.table)
        if not server.can_modify:
            raise ProxydError(f"Table '{self.table.name}' is read only", 1036, "HY000")
        if self.modify is None:
            st = self.start_instance()
            rowid = self.table.rowid_column
            self.call(st, "fdw_begin_modify", {"rowid_column": None if rowid is None else self.table.columns[rowid].name})
            self.modify = st
        return self.modify

    def _rowid_cell(self, rowid: int) -> Any:
        if self.table.rowid_column is None:
            raise ProxydError(f"foreign table {self.table.label} has no rowid_column; UPDATE and DELETE are not supported",
                              1105, "HY000")
        return self.rowcells.get(rowid, rowid)

    def _row(self, fields: tuple[Any, ...]) -> list[Any]:
        for c, v in zip(self.table.columns, fields):
            if v is None and c.not_null:  # SQLite does not enforce NOT NULL on virtual tables
                raise ProxydError(f"Column '{c.name}' cannot be null", 1048, "23000")
        return [to_guest(c, v) for c, v in zip(self.table.columns, fields)]

    def UpdateInsertRow(self, rowid: int | None, fields: tuple[Any, ...]) -> int:
        st = self._modifying()
        self.call(st, "fdw_insert", {"row": self._row(fields)})
        self.stats.add("inserts")
        rid = self.table.rowid_column
        return fields[rid] if rid is not None and isinstance(fields[rid], int) else 0

    def UpdateDeleteRow(self, rowid: int) -> None:
        cell = self._rowid_cell(rowid)
        st = self._modifying()
        self.call(st, "fdw_delete", {"rowid": cell})
        self.stats.add("deletes")

    def UpdateChangeRow(self, rowid: int, newrowid: int, fields: tuple[Any, ...]) -> None:
        cell = self._rowid_cell(rowid)
        row = self._row(fields)
        if row[self.table.rowid_column] != cell:
            raise ProxydError(f"foreign table {self.table.label}: the rowid column cannot be changed", 1105, "HY000")
        st = self._modifying()
        self.call(st, "fdw_update", {"rowid": cell, "row": row})
        self.stats.add("updates")

    def _end_modify(self, commit: bool) -> None:
        st, self.modify = self.modify, None
        if st is not None and st.inst is not None:
            self.call(st, "fdw_end_modify", {"commit": commit})
            self.release(st)

    def Begin(self) -> None:
        self.rowcells.clear()

    def Sync(self) -> None:
        self._end_modify(commit=True)

    def Commit(self) -> None:
        self._end_modify(commit=True)

    def Rollback(self) -> None:
        self._end_modify(commit=False)


class ForeignCursor:
    def __init__(self, vt: ForeignVTable):
        self.vt = vt
        self.st: fdw.FdwCall | None = None
        self.scanning = False
        self.rows: list[tuple[Any, ...]] = []
        self.pos = 0
        self.done = True
        self.seen = 0
        self.rowid = 0

    def Filter(self, indexnum: int, indexname: str, constraintargs: tuple[Any, ...]) -> None:
        vt = self.vt
        if self.st is None:
            self.st = vt.start_instance()
        quals_desc, sorts, used_cols = json.loads(indexname or "[[],[],null]")
        used_set = set(range(len(vt.table.columns)) if used_cols is None else used_cols)
        cols = vt.table.columns
        quals, limit = [], None
        for what, value in zip(quals_desc, constraintargs):
            if what in ("count", "offset"):
                limit = limit or {"count": None, "offset": 0}
                limit[what] = value
                continue
            col, op = what.split(":", 1)
            c = cols[int(col)]
            qual = {"field": c.name, "operator": op, "use_or": False}
            if op not in ("is null", "is not null"):
                qual["value"] = to_guest(c, value)
            quals.append(qual)
        context = {
            "columns": [dict(c.describe(), used=i in used_set) for i, c in enumerate(cols)],
            "quals": quals,
            "sorts": [{"field": cols[i].name, "field_no": i + 1, "reversed": desc, "nulls_first": not desc}
                      for i, desc in sorts if 0 <= i < len(cols)],
            "limit": limit if limit is None or limit["count"] is not None else None,
        }
        if self.scanning:
            vt.stats.add("rescans")
            if self.st.inst.has("fdw_re_scan"):
                vt.call(self.st, "fdw_re_scan", context)
            else:
                vt.call(self.st, "fdw_end_scan", {})
                vt.call(self.st, "fdw_begin_scan", context)
        else:
            vt.stats.add("scans")
            vt.call(self.st, "fdw_begin_scan", context)
            self.scanning = True
        self.rows, self.pos, self.done, self.seen = [], 0, False, 0
        self._fill()

    def _fill(self) -> None:
        vt = self.vt
        batch = vt.call(self.st, "fdw_iter_scan", {"max_rows": vt.service.batch_rows()})
        if not isinstance(batch, list):
            self.st.inst.broken = True  # it broke the ABI: never reuse it
            vt.release(self.st)
            raise fdw.fail(self.st, "fdw_iter_scan", "invalid reply: rows must be a JSON array")
        try:
            out = vt.convert(batch, self.seen + 1)
            self.seen += len(out)
        except ValueError as exc:
            self.st.inst.broken = True
            vt.release(self.st)
            raise fdw.fail(self.st, "fdw_iter_scan", f"invalid reply: {exc}") from None
        vt.stats.add("rows_out", len(out))
        self.rows, self.pos = out, 0
        if not out:
            self.done = True

    def Eof(self) -> bool:
        return self.done

    def Next(self) -> None:
        self.pos += 1
        if self.pos >= len(self.rows):
            self._fill()

    def Column(self, number: int) -> Any:
        if number == -1:
            return self.Rowid()
        return self.rows[self.pos][number]

    def ColumnNoChange(self, number: int) -> Any:
        return self.Column(number)

    def Rowid(self) -> int:
        rid = self.vt.table.rowid_column
        if rid is not None:
            cell = self.rows[self.pos][rid]
            if isinstance(cell, int):
                return cell
            self.rowid += 1
            self.vt.rowcells[self.rowid] = cell
            return self.rowid
        return self.seen - len(self.rows) + self.pos + 1

    def Close(self) -> None:
        st, self.st = self.st, None
        if st is None or st.inst is None:
            return
        try:
            if self.scanning and not st.inst.broken:
                fdw.call_routine(st, "fdw_end_scan", {})
        except fdw.FdwError:
            pass  # the statement already has its rows; the instance is dropped below
        finally:
            self.vt.release(st)
