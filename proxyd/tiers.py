"""DISK <-> MEMORY <-> RUNTIME tiers, and the generated LOAD/SAVE/CHECKSUM command families.

A *module* is anything with a command keyword (``MYSQL SERVERS``, ``FILTERS``, ``ADMIN VARIABLES``)
that can move its state between the tiers. Plugins declare a :class:`TieredObject` (tables plus two
callbacks) or variables with a prefix; the host generates every spelling of every command for it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import apsw

from proxyd.commands import CommandContext, CommandRegistry
from proxyd.config import ConfigError
from proxyd.errors import ProxydError, TierError, UnknownVariableError, from_sqlite, to_proxyd_error
from proxyd.results import Ok, ResultSet, Warning_
from proxyd.snapshots import dicts_to_tuples

if TYPE_CHECKING:
    from proxyd.config import Config
    from proxyd.store import AdminStore
    from proxyd.variables import VariableRegistry

log = logging.getLogger("proxyd")
Rows = dict[str, list[dict[str, Any]]]

# direction -> spellings (M stands for the module keyword)
SPELLINGS: dict[str, tuple[str, ...]] = {
    "memory_to_disk": ("SAVE {M} TO DISK", "SAVE {M} FROM MEMORY", "SAVE {M} FROM MEM"),
    "disk_to_memory": ("LOAD {M} FROM DISK", "LOAD {M} TO MEMORY", "LOAD {M} TO MEM"),
    "memory_to_runtime": ("LOAD {M} TO RUNTIME", "LOAD {M} TO RUN", "LOAD {M} FROM MEMORY", "LOAD {M} FROM MEM"),
    "runtime_to_memory": ("SAVE {M} TO MEMORY", "SAVE {M} TO MEM", "SAVE {M} FROM RUNTIME", "SAVE {M} FROM RUN"),
}
CHECKSUM_TIERS = {"": "memory", "MEMORY ": "memory", "MEM ": "memory", "DISK ": "disk", "RUNTIME ": "runtime"}


@dataclass
class TieredObject:
    """A plugin's configuration that lives in the three tiers.

    ``tables`` are ``(name, CREATE TABLE …)`` pairs: the host creates each in ``main`` and ``disk``
    and a ``runtime_<name>`` projection. ``load_to_runtime(rows)`` gets ``{table: [row dict]}`` from
    memory, validates it and swaps the live state, or raises (ProxydError/ValueError) with a reason
    and keeps the old state. ``save_from_runtime()`` returns the live rows in the same shape.
    ``cnf_section`` names the cnf section whose rows seed the first table (or maps section names to
    tables). ``save_to_memory(store, rows)`` may replace the default RUNTIME→MEMORY full replace.
    """

    name: str
    tables: Sequence[tuple[str, str]]
    load_to_runtime: Callable[[Rows], Any]
    save_from_runtime: Callable[[], Rows]
    cnf_section: str | Mapping[str, str] | None = None
    save_to_memory: Callable[["AdminStore", Rows], int] | None = None
    runtime_rows: Callable[[], Rows] | None = None  # projection for runtime_ tables, if it differs

    def cnf_sections(self) -> dict[str, str]:
        if self.cnf_section is None:
            return {}
        if isinstance(self.cnf_section, str):
            return {self.cnf_section: self.tables[0][0]}
        return dict(self.cnf_section)


class Module:
    """Common shape of a tiered module (tables or variables)."""

    keyword: str
    owner: str
    cnf_sections: dict[str, str]

    def disk_to_memory(self, store: "AdminStore") -> int: raise NotImplementedError
    def memory_to_disk(self, store: "AdminStore") -> int: raise NotImplementedError
    def memory_to_runtime(self, store: "AdminStore") -> Ok: raise NotImplementedError
    def runtime_to_memory(self, store: "AdminStore") -> int: raise NotImplementedError
    def from_config(self, store: "AdminStore", config: "Config") -> int: raise NotImplementedError
    def checksum_rows(self, store: "AdminStore", tier: str) -> list[tuple]: raise NotImplementedError


def checksum(rows: Sequence[Sequence[Any]]) -> str:
    """Stable 64-bit hash over every field of every row (rows already in key order)."""
    if not rows:
        return "0x0000000000000000"
    h = hashlib.blake2b(digest_size=8)
    for row in rows:
        for v in row:
            h.update(b"\x00N" if v is None else b"\x00" + str(v).encode())
        h.update(b"\x01")
    return "0x" + h.hexdigest().upper()


class TableModule(Module):
    def __init__(self, obj: TieredObject, owner: str):
        self.obj, self.owner, self.keyword = obj, owner, " ".join(obj.name.upper().split())
        self.cnf_sections = obj.cnf_sections()
        self.table_names = [name for name, _ in obj.tables]

    def _copy(self, store: "AdminStore", src: str, dst: str) -> int:
        n = 0
        with store.conn:
            for t in self.table_names:
                dst_cols, src_cols = store.columns(dst, t), store.columns(src, t)
                cols = [c for c in dst_cols if c in set(src_cols)]
                cl = ",".join(f'"{c}"' for c in cols)
                store.conn.execute(f'DELETE FROM {dst}."{t}"')
                if dst_cols == src_cols:  # same shape: SELECT * lets SQLite copy rows as they are (xfer optimization)
                    store.conn.execute(f'INSERT INTO {dst}."{t}" SELECT * FROM {src}."{t}"')
                else:
                    store.conn.execute(f'INSERT INTO {dst}."{t}" ({cl}) SELECT {cl} FROM {src}."{t}"')
                n += store.conn.changes()
        return n

    def disk_to_memory(self, store):
        return self._copy(store, "disk", "main")

    def memory_to_disk(self, store):
        return self._copy(store, "main", "disk")

    def read_memory(self, store: "AdminStore") -> Rows:
        out: Rows = {}
        for t in self.table_names:
            cols, rows = store.query(f'SELECT * FROM main."{t}"')
            out[t] = [dict(zip(cols, r)) for r in rows]
        return out

    def memory_to_runtime(self, store):
        rows = self.read_memory(store)
        try:
            self.obj.load_to_runtime(rows)
        except TierError:  # the plugin's own complete answer (code, SQLSTATE, text); old runtime stays
            raise
        except Exception as exc:  # the plugin refused: old runtime stays
            reason = exc.message if isinstance(exc, ProxydError) else str(exc) or type(exc).__name__
            raise TierError(f"LOAD {self.keyword} TO RUNTIME failed, runtime unchanged: {reason}") from exc
        return Ok(affected_rows=sum(len(v) for v in rows.values()))

    def live_rows(self) -> Rows:
        return (self.obj.runtime_rows or self.obj.save_from_runtime)()

    def runtime_to_memory(self, store):
        rows = self.obj.save_from_runtime()
        if self.obj.save_to_memory is not None:
            with store.conn:
                return self.obj.save_to_memory(store, rows)
        n = 0
        with store.conn:
            for t in self.table_names:
                n += _replace_dicts(store, "main", t, rows.get(t, []))
        return n

    def refresh_runtime_tables(self, store: "AdminStore") -> None:
        rows = self.live_rows()
        with store.conn:
            for t in self.table_names:
                _replace_dicts(store, "main", f"runtime_{t}", rows.get(t, []))

    def from_config(self, store, config):
        n = 0
        with store.conn:
            for section, table in self.cnf_sections.items():
                rows = config_rows(config, section)
                for i, row in enumerate(rows):
                    try:
                        store.insert_rows("main", table, list(row), [list(row.values())], verb="INSERT OR REPLACE")
                    except apsw.Error as exc:  # CHECK / NOT NULL / UNIQUE: point at the cnf row
                        raise config.error(f"{section}[{i}]: {from_sqlite(exc).message}", section, i) from None
                n += len(rows)
        return n

    def checksum_rows(self, store, tier):
        out: list[tuple] = []
        if tier == "runtime":
            live = self.obj.save_from_runtime()
            for t in self.table_names:
                cols = store.columns("main", t)
                out.extend(sorted((tuple(r.get(c) for c in cols) for r in live.get(t, [])), key=_sort_key))
            return out
        schema = "disk" if tier == "disk" else "main"
        for t in self.table_names:
            out.extend(sorted(store.execute(f'SELECT * FROM {schema}."{t}"'), key=_sort_key))
        return out


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, str(type(v).__name__), v if v is not None else 0) for v in row)


def _replace_dicts(store: "AdminStore", schema: str, table: str, rows: list[dict]) -> int:
    store.conn.execute(f'DELETE FROM {schema}."{table}"')
    if not rows:
        return 0
    cols = store.columns(schema, table)
    return store.insert_rows(schema, table, cols, dicts_to_tuples(cols, rows))


def config_rows(config: "Config", section: str) -> list[dict[str, Any]]:
    """Rows of a cnf table section (core sections are attributes, plugin ones are extra)."""
    rows = getattr(config, section, None)
    if rows is None:
        rows = config.extra_sections.get(section) or []
    if isinstance(rows, dict):
        rows = [rows]
    return [dict(r) for r in rows]


class VariablesModule(Module):
    """``<PREFIX> VARIABLES``: the ``prefix-*`` rows of ``global_variables``, merged by name."""

    def __init__(self, prefix: str, registry: "VariableRegistry", owner: str):
        self.prefix, self.registry, self.owner = prefix, registry, owner
        self.keyword = f"{prefix.upper()} VARIABLES"
        self.cnf_sections = {f"{prefix}_variables": "global_variables"}
        self.like = prefix + "-%"

    def _merge(self, store, src: str, dst: str) -> int:
        with store.conn:
            store.conn.execute(
                f"INSERT OR REPLACE INTO {dst}.global_variables SELECT * FROM {src}.global_variables "
                "WHERE variable_name LIKE ?", (self.like,))
            return store.conn.changes()

    def disk_to_memory(self, store):
        return self._merge(store, "disk", "main")

    def memory_to_disk(self, store):
        return self._merge(store, "main", "disk")

    def memory_to_runtime(self, store):
        warnings: list[Warning_] = []
        changed: dict[str, str] = {}
        reg = self.registry
        rows = store.execute("SELECT variable_name, variable_value FROM main.global_variables "
                             "WHERE variable_name LIKE ?", (self.like,))
        with store.conn:
            for name, value in rows:
                key = name.lower()
                var = reg.defs.get(key)
                if var is None:
                    store.execute("DELETE FROM main.global_variables WHERE variable_name=?", (name,))
                    warnings.append(Warning_("Warning", 1193, f"Unknown global variable '{name}' removed"))
                    continue
                current = reg.runtime[key]
                try:
                    new = var.check(value)
                    if var.readonly and new != current:
                        raise ValueError("read-only")
                except (ValueError, TypeError):
                    store.execute("UPDATE main.global_variables SET variable_value=? WHERE variable_name=?",
                                  (current, name))
                    warnings.append(Warning_("Warning", 1231, f"Variable '{name}' can't be set to the value "
                                                             f"of '{value}'; reset to '{current}'"))
                    continue
                if new != current:
                    changed[key] = new
            present = {r[0].lower() for r in rows}
            for key in reg.names(self.prefix):
                if key not in present:
                    store.execute("INSERT OR REPLACE INTO main.global_variables VALUES (?,?)",
                                  (key, reg.runtime[key]))
        try:
            reg.apply(changed)
        except Exception as exc:
            raise to_proxyd_error(exc) from exc
        return Ok(affected_rows=len(rows), warnings=warnings)

    def runtime_to_memory(self, store):
        names = self.registry.names(self.prefix)
        with store.conn:
            store.execute("DELETE FROM main.global_variables WHERE variable_name LIKE ?", (self.like,))
            return store.insert_rows("main", "global_variables", ["variable_name", "variable_value"],
                                     [(n, self.registry.runtime[n]) for n in names])

    def from_config(self, store, config):
        values: dict[str, str] = getattr(config, f"{self.prefix}_variables", None) or {}
        if not values and f"{self.prefix}_variables" in config.extra_sections:
            values = {k: _as_text(v) for k, v in config.extra_sections[f"{self.prefix}_variables"].items()}
        with store.conn:
            for name, value in values.items():
                full = f"{self.prefix}-{name}"
                if full.lower() not in self.registry.defs:
                    raise UnknownVariableError(f"Unknown global variable: '{full}' in {config.path}")
                store.execute("INSERT OR REPLACE INTO main.global_variables VALUES (?,?)",
                              (full, self.registry.validate(full, value)))
        return len(values)

    def checksum_rows(self, store, tier):
        if tier == "runtime":
            return [(n, self.registry.runtime[n]) for n in self.registry.names(self.prefix)]
        schema = "disk" if tier == "disk" else "main"
        return store.execute(f"SELECT * FROM {schema}.global_variables WHERE variable_name LIKE ? "
                             "ORDER BY variable_name", (self.like,))


def _as_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


@dataclass
class TierManager:
    """Modules by keyword, and the commands generated for each."""

    store: "AdminStore"
    registry: CommandRegistry
    config_provider: Callable[[], "Config"]
    modules: dict[str, Module] = field(default_factory=dict)

    def add(self, module: Module) -> None:
        if module.keyword in self.modules:
            raise ProxydError(f"module '{module.keyword}' already exists")
        self.modules[module.keyword] = module
        owner, kw = module.owner, module.keyword
        for direction, spellings in SPELLINGS.items():
            canonical = spellings[0].format(M=kw)
            self.registry.register(canonical, self._mover(module, direction), owner=owner)
            for alias in spellings[1:]:
                self.registry.register_alias(canonical, alias.format(M=kw), owner=owner)
        self.registry.register(f"LOAD {kw} FROM CONFIG", self._from_config(module), owner=owner)
        for word, tier in CHECKSUM_TIERS.items():
            self.registry.register(f"CHECKSUM {word}{kw}", self._checksum(module, tier), owner=owner)

    def remove_owner(self, owner: str) -> None:
        for kw in [k for k, m in self.modules.items() if m.owner == owner]:
            del self.modules[kw]

    def _mover(self, module: Module, direction: str):
        def run(ctx: CommandContext, sql: str) -> Ok:
            if direction == "memory_to_runtime":
                res = module.memory_to_runtime(self.store)
                for w in res.warnings:  # rejected values are logged too, not only returned
                    log.warning("LOAD %s TO RUNTIME: %s", module.keyword, w.message)
                return res
            return Ok(affected_rows=getattr(module, direction)(self.store))
        return run

    def _from_config(self, module: Module):
        def run(ctx: CommandContext, sql: str) -> Ok:
            try:
                config = self.config_provider()
            except Exception as exc:
                raise ProxydError(f"Unable to open or parse config file: {exc}") from exc
            try:
                return Ok(affected_rows=module.from_config(self.store, config))
            except ConfigError as exc:
                raise ProxydError(f"LOAD {module.keyword} FROM CONFIG failed, memory unchanged: {exc}") from exc
        return run

    def _checksum(self, module: Module, tier: str):
        def run(ctx: CommandContext, sql: str) -> ResultSet:
            return ResultSet(["table", "checksum"], [(module.keyword, checksum(module.checksum_rows(self.store, tier)))])
        return run

    def keywords(self) -> list[str]:
        return sorted(self.modules)
