"""Answers to the filter statements, shared by the admin port and the SQL port, and /*explain filter*/."""

from __future__ import annotations

import re
from typing import Any

from plugins.filters import grammar
from plugins.filters.errors import (
    FilterAccessDenied,
    FilterExistsError,
    NoSuchFilterError,
)
from plugins.filters.model import COLUMNS, FilterDef, from_fields
from plugins.filters.runtime import FilterRuntime
from plugins.filters.store import FilterStore
from proxyd.errors import ProxydError, ReadOnlyError
from proxyd.pipeline import QueryContext
from proxyd.results import Ok, ResultSet, Warning_

#: Cheap first test on every SQL-port statement: could it be a filter statement or an explain?
MAYBE_OURS = re.compile(r"\s*(?:/\*|(?:create|alter|drop|show)\s+(?:create\s+)?filter)", re.IGNORECASE)
_FILTER_STATEMENT = re.compile(r"\s*(?:/\*.*?\*/\s*)*(?:create|alter|drop|show)\s+(?:create\s+)?filters?(?:\s|`|$)",
                               re.IGNORECASE | re.DOTALL)
_LEADING_COMMENT = re.compile(r"\s*/\*(.*?)\*/", re.DOTALL)
EXPLAIN_COLUMNS = ["Name", "description", "priority", "action", "action_args"]
ADMIN_USERS_VARIABLE = "filters-admin_users"


def explain_target(sql: str) -> str | None:
    """The statement after a leading ``/*explain filter*/`` comment (spaces inside ignored), else None."""
    m = _LEADING_COMMENT.match(sql)
    if m is None or "".join(m.group(1).split()).lower() != "explainfilter":
        return None
    return sql[m.end():]


def split_names(value: str) -> set[str]:
    return {n.strip() for n in value.split(",") if n.strip()}


class FilterStatements:
    def __init__(self, runtime: FilterRuntime, store: FilterStore):
        self.runtime, self.store = runtime, store
        self.services: Any = None

    # -- entry points ------------------------------------------------------------------------------
    def admin_command(self, prefix: str):
        """An admin-port callback for statements starting with ``prefix``."""
        def run(ctx: Any, sql: str) -> Ok | ResultSet:
            args = getattr(ctx, "args", None)
            return self.execute(grammar.parse(f"{prefix} {args}" if args else prefix))
        return run

    def sql_port(self, ctx: QueryContext) -> Ok | ResultSet | ProxydError | None:
        """Answer a filter statement or an explain arriving on the SQL port; None: not one of ours."""
        sql = ctx.sql
        target = explain_target(sql)
        if target is not None:
            return self.explain(ctx, target)
        if not _FILTER_STATEMENT.match(sql):
            return None
        allowed = split_names(self.services.get_variable(ADMIN_USERS_VARIABLE))
        if ctx.user not in allowed:
            return FilterAccessDenied(f"Access denied for user '{ctx.user}' to filter statements: the user is not "
                                      f"listed in {ADMIN_USERS_VARIABLE}")
        try:
            return self.execute(grammar.parse(sql))
        except ProxydError as exc:
            return exc

    # -- statements --------------------------------------------------------------------------------
    def execute(self, st: grammar.Statement) -> Ok | ResultSet:
        if st.verb == "SHOW_FILTERS":
            return self.show([f.definition for f in self.runtime.current.filters])
        if st.verb == "SHOW_FILTER":
            return self.show([self._existing(st.name)])
        if st.verb == "SHOW_CREATE":
            d = self._existing(st.name)
            return ResultSet(["Filter", "Create Filter"], [(d.name, grammar.create_statement(d))])
        if st.verb == "SHOW_ACTIONS":
            return self.show_actions()
        self._check_writable()
        if st.verb == "CREATE":
            return self.create(st)
        if st.verb == "ALTER":
            return self.alter(st)
        return self.drop(st)

    def _existing(self, name: str) -> FilterDef:
        d = self.store.find(name)
        if d is None:
            raise NoSuchFilterError(f"FILTER {name} does not exist")
        return d

    def _check_writable(self) -> None:
        if self.services.get_variable("admin-read_only").lower() in ("true", "1", "on", "yes"):
            raise ReadOnlyError("filters are read-only while admin-read_only is true")

    def create(self, st: grammar.Statement) -> Ok:
        if self.store.find(st.name) is not None:
            if st.if_exists:
                return Ok(warnings=[Warning_("Note", 1304, f"FILTER {st.name} already exists")])
            raise FilterExistsError(f"FILTER {st.name} already exists")
        d = from_fields({**st.fields, "name": st.name})
        now = self.store.now()
        self.store.put(d.with_changes(id=self.store.next_id(), create_timestamp=now, update_timestamp=now))
        return Ok(affected_rows=1)

    def alter(self, st: grammar.Statement) -> Ok:
        old = self._existing(st.name)
        row = old.to_row()
        row.update(st.fields)
        d = from_fields(row).with_changes(id=old.id or self.store.next_id(),
                                          create_timestamp=old.create_timestamp or self.store.now(),
                                          update_timestamp=self.store.now())
        self.store.put(d, replacing=old.name)
        return Ok(affected_rows=1)

    def drop(self, st: grammar.Statement) -> Ok:
        if self.store.find(st.name) is None:
            if st.if_exists:
                return Ok(warnings=[Warning_("Note", 1305, f"FILTER {st.name} does not exist")])
            raise NoSuchFilterError(f"FILTER {st.name} does not exist")
        self.store.delete(st.name)
        return Ok(affected_rows=1)

    # -- result sets -------------------------------------------------------------------------------
    def show(self, defs: list[FilterDef]) -> ResultSet:
        rows = []
        for d in defs:
            row = d.to_row()
            rows.append(tuple(row[c] for c in COLUMNS))
        return ResultSet(list(COLUMNS), rows)

    def show_actions(self) -> ResultSet:
        used: dict[str, int] = {}
        for f in self.runtime.current.filters:
            used[f.definition.action] = used.get(f.definition.action, 0) + 1
        rows = [(name, cls.description, "YES" if cls.takes_args else "NO", self.runtime.providers.get(name, ""),
                 used.get(name, 0)) for name, cls in sorted(self.runtime.actions.items())]
        return ResultSet(["action", "description", "takes_args", "plugin", "filters"], rows)

    def explain(self, ctx: QueryContext, target: str) -> ResultSet:
        """The live filters that would run for ``target``, in the order they would run."""
        probe = QueryContext(target, user=ctx.user, client_address=ctx.client_address, schema=ctx.schema,
                             connection_id=ctx.connection_id, hostgroup=ctx.hostgroup, params=ctx.params,
                             session=ctx.session, digest_options=ctx.digest_options)
        matched = self.runtime.current.match(probe) if self.runtime.current.live else ()
        return ResultSet(EXPLAIN_COLUMNS, [(f.name, f.definition.description, f.definition.priority,
                                            f.definition.action, f.definition.action_args) for f in matched])
