"""A filter's definition: its fields, their defaults, normalization and validation of plain values.

The same :class:`FilterDef` comes from a CREATE/ALTER FILTER statement or a row of the ``filters``
table; the pattern fields that need compiling (regexes, template, bind conditions) are checked by
:mod:`plugins.filters.pattern`, the action and its arguments by the action registry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from plugins.filters.errors import FilterValueError
from proxyd.classify import plan_name
from proxyd.schema import COMMAND_KINDS

DEFAULT_PRIORITY = 1000
STATUSES = ("ACTIVE", "INACTIVE")
#: Plan names a filter's ``plans`` may list, by lower-case spelling.
PLAN_NAMES: dict[str, str] = {p.lower(): p for p in sorted({plan_name(k) for k in COMMAND_KINDS} | {"Other"})}

#: Field names per block of the CREATE/ALTER FILTER grammar; ``desc`` is the column ``description``.
META_FIELDS = ("desc", "priority", "status")
PATTERN_FIELDS = ("plans", "fully_qualified_table_names", "query_regex", "query_template", "request_ip_regex",
                  "user_regex", "leading_comment_regex", "trailing_comment_regex", "bind_var_conds")
EXECUTE_FIELDS = ("action", "action_args")
REGEX_FIELDS = ("query_regex", "request_ip_regex", "user_regex", "leading_comment_regex", "trailing_comment_regex")

TABLE_DDL = """CREATE TABLE filters (
    id INTEGER PRIMARY KEY,
    create_timestamp VARCHAR NOT NULL DEFAULT (datetime('now')),
    update_timestamp VARCHAR NOT NULL DEFAULT (datetime('now')),
    name VARCHAR NOT NULL UNIQUE,
    description VARCHAR NOT NULL DEFAULT '',
    priority INT NOT NULL DEFAULT 1000,
    status VARCHAR NOT NULL DEFAULT 'ACTIVE',
    plans VARCHAR NOT NULL DEFAULT '[]',
    fully_qualified_table_names VARCHAR NOT NULL DEFAULT '[]',
    query_regex VARCHAR NOT NULL DEFAULT '',
    query_template VARCHAR NOT NULL DEFAULT '',
    request_ip_regex VARCHAR NOT NULL DEFAULT '',
    user_regex VARCHAR NOT NULL DEFAULT '',
    leading_comment_regex VARCHAR NOT NULL DEFAULT '',
    trailing_comment_regex VARCHAR NOT NULL DEFAULT '',
    bind_var_conds VARCHAR NOT NULL DEFAULT '',
    action VARCHAR NOT NULL,
    action_args VARCHAR NOT NULL DEFAULT '')"""


@dataclass(frozen=True)
class FilterDef:
    """One filter as stored: the columns of the ``filters`` table, values normalized."""

    name: str
    action: str
    description: str = ""
    priority: int = DEFAULT_PRIORITY
    status: str = "ACTIVE"
    plans: tuple[str, ...] = ()
    fully_qualified_table_names: tuple[str, ...] = ()
    query_regex: str = ""
    query_template: str = ""
    request_ip_regex: str = ""
    user_regex: str = ""
    leading_comment_regex: str = ""
    trailing_comment_regex: str = ""
    bind_var_conds: str = ""
    action_args: str = ""
    id: int | None = None
    create_timestamp: str | None = None
    update_timestamp: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"

    def definition_key(self) -> tuple:
        """Everything that shapes runtime behaviour (not id or timestamps): equal keys, same filter."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.name not in ("id", "create_timestamp",
                                                                                   "update_timestamp"))

    def with_changes(self, **changes: Any) -> FilterDef:
        return replace(self, **changes)

    def to_row(self) -> dict[str, Any]:
        """The ``filters`` table row (plans and table names as compact JSON lists)."""
        row = asdict(self)
        row["plans"] = _json_list(self.plans)
        row["fully_qualified_table_names"] = _json_list(self.fully_qualified_table_names)
        return row


COLUMNS = ("id", "create_timestamp", "update_timestamp", "name", "description", "priority", "status", "plans",
           "fully_qualified_table_names", "query_regex", "query_template", "request_ip_regex", "user_regex",
           "leading_comment_regex", "trailing_comment_regex", "bind_var_conds", "action", "action_args")


def _json_list(items: tuple[str, ...]) -> str:
    return json.dumps(list(items), separators=(",", ":"), ensure_ascii=False)


# -- normalization of the plain fields -------------------------------------------------------------
def check_name(name: Any) -> str:
    text = "" if name is None else str(name).strip()
    if not text:
        raise FilterValueError("name", "a filter needs a name")
    if len(text) > 128 or any(ord(c) < 32 for c in text):
        raise FilterValueError("name", f"'{text[:40]}' (at most 128 printable characters)")
    return text


def check_priority(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise FilterValueError("priority", f"'{value}' is not an integer") from None
    if not 0 <= number <= 2_147_483_647:
        raise FilterValueError("priority", f"{number} is out of range 0..2147483647")
    return number


def check_status(value: Any) -> str:
    status = str(value).strip().upper()
    if status not in STATUSES:
        raise FilterValueError("status", f"'{value}' (use ACTIVE or INACTIVE)")
    return status


def split_list(field_name: str, value: Any) -> list[str]:
    """A list field as written: a JSON list (as SHOW FILTERS prints it) or comma-separated text."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        text = str(value).strip()
        if text.startswith("["):
            try:
                loaded = json.loads(text)
            except ValueError:
                raise FilterValueError(field_name, f"'{text[:60]}' is not a JSON list") from None
            if not isinstance(loaded, list) or not all(isinstance(v, str) for v in loaded):
                raise FilterValueError(field_name, f"'{text[:60]}' is not a list of strings")
            items = loaded
        else:
            items = text.split(",")
    return [i.strip() for i in items if i.strip()]


def check_plans(value: Any) -> tuple[str, ...]:
    out: list[str] = []
    for item in split_list("plans", value):
        plan = PLAN_NAMES.get(item.lower())
        if plan is None:
            raise FilterValueError("plans", f"unknown plan '{item}' (valid: {', '.join(PLAN_NAMES.values())})")
        if plan not in out:
            out.append(plan)
    return tuple(out)


def check_tables(value: Any) -> tuple[str, ...]:
    out: list[str] = []
    for item in split_list("fully_qualified_table_names", value):
        db, dot, table = item.partition(".")
        if not dot or not db or not table or "." in table:
            raise FilterValueError("fully_qualified_table_names", f"'{item}' is not db.table (* is a wildcard)")
        if item not in out:
            out.append(item)
    return tuple(out)


def check_action_name(value: Any) -> str:
    name = "" if value is None else str(value).strip().upper()
    if not name:
        raise FilterValueError("action", "a filter needs an action (e.g. action='FAIL')")
    return name


def from_fields(values: dict[str, Any]) -> FilterDef:
    """Build and normalize a definition from column values (a table row or parsed statement)."""
    def text(key: str) -> str:
        v = values.get(key)
        return "" if v is None else str(v)

    return FilterDef(
        name=check_name(values.get("name")),
        action=check_action_name(values.get("action")),
        description=text("description"),
        priority=check_priority(values["priority"]) if values.get("priority") not in (None, "") else DEFAULT_PRIORITY,
        status=check_status(values["status"]) if values.get("status") not in (None, "") else "ACTIVE",
        plans=check_plans(values.get("plans")),
        fully_qualified_table_names=check_tables(values.get("fully_qualified_table_names")),
        query_regex=text("query_regex"), query_template=text("query_template").strip(),
        request_ip_regex=text("request_ip_regex"), user_regex=text("user_regex"),
        leading_comment_regex=text("leading_comment_regex"), trailing_comment_regex=text("trailing_comment_regex"),
        bind_var_conds=text("bind_var_conds").strip(), action_args=text("action_args").strip(),
        id=values.get("id"), create_timestamp=values.get("create_timestamp"),
        update_timestamp=values.get("update_timestamp"),
    )
