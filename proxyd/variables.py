"""Global variables: definitions with validation, and their runtime values.

Names carry a module prefix (``mysql-``, ``admin-``, or a plugin's own). Values are text;
booleans are ``true``/``false``. A definition validates and normalizes a value; SET checks at
once, plain ``UPDATE global_variables`` is caught at ``LOAD … VARIABLES TO RUNTIME``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from proxyd import __version__
from proxyd.errors import RegistrationError, UnknownVariableError, WrongValueError

Checker = Callable[[str], str]


def int_range(lo: int | None = None, hi: int | None = None) -> Checker:
    def check(value: str) -> str:
        n = int(str(value).strip(), 0)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise ValueError(f"out of range [{lo}, {hi}]")
        return str(n)
    return check


def boolean(value: str) -> str:
    v = str(value).strip().lower()
    if v in ("true", "1", "on", "yes"):
        return "true"
    if v in ("false", "0", "off", "no"):
        return "false"
    raise ValueError("not a boolean")


def text(value: str) -> str:
    return str(value)


def one_of(*choices: str) -> Checker:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value
    return check


def credentials(value: str) -> str:
    for pair in filter(None, value.split(";")):
        user, sep, _ = pair.partition(":")
        if not sep or not user:
            raise ValueError("expected user:password pairs separated by ';'")
    return value


def interfaces(value: str) -> str:
    for item in filter(None, value.split(";")):
        if item.startswith("/"):
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected host:port entries separated by ';'")
    return value


@dataclass
class Variable:
    name: str  # full name with prefix
    default: str
    check: Checker = text
    readonly: bool = False
    owner: str = "core"
    doc: str = ""

    @property
    def prefix(self) -> str:
        return self.name.split("-", 1)[0]


class VariableRegistry:
    """Definitions of every variable, and the values currently at runtime."""

    def __init__(self) -> None:
        self.defs: dict[str, Variable] = {}
        self.runtime: dict[str, str] = {}
        self._listeners: list[Callable[[dict[str, str]], None]] = []
        self._owned: dict[str, list[Callable[[dict[str, str]], None]]] = {}  # owner -> its listeners

    def define(self, var: Variable) -> None:
        key = var.name.lower()
        if "-" not in key:
            raise RegistrationError(f"variable '{var.name}' needs a module prefix ('prefix-name')")
        if key in self.defs:
            raise RegistrationError(f"variable '{var.name}' is already defined by {self.defs[key].owner}")
        try:
            var.default = var.check(var.default)
        except (ValueError, TypeError) as exc:
            raise RegistrationError(f"variable '{var.name}': bad default: {exc}") from exc
        self.defs[key] = var
        self.runtime.setdefault(key, var.default)

    def undefine_owner(self, owner: str) -> None:
        for key in [k for k, v in self.defs.items() if v.owner == owner]:
            del self.defs[key]
            self.runtime.pop(key, None)
        for fn in self._owned.pop(owner, []):  # a plugin's listeners go with it
            try:
                self._listeners.remove(fn)
            except ValueError:
                pass

    def get_def(self, name: str) -> Variable:
        var = self.defs.get(name.lower())
        if var is None:
            raise UnknownVariableError(f"Unknown global variable: '{name}'")
        return var

    def validate(self, name: str, value: str) -> str:
        var = self.get_def(name)
        try:
            return var.check(value)
        except (ValueError, TypeError) as exc:
            raise WrongValueError(f"Variable '{name}' can't be set to the value of '{value}' ({exc})") from exc

    def prefixes(self) -> list[str]:
        return sorted({v.prefix for v in self.defs.values()})

    def names(self, prefix: str) -> list[str]:
        return sorted(k for k, v in self.defs.items() if v.prefix == prefix)

    def get(self, name: str) -> str:
        """Runtime value of a variable (what the live daemon uses)."""
        return self.runtime[name.lower()]

    def get_int(self, name: str) -> int:
        return int(self.get(name))

    def get_bool(self, name: str) -> bool:
        return self.get(name) == "true"

    def on_change(self, fn: Callable[[dict[str, str]], None], owner: str | None = None) -> None:
        """Call ``fn(changed)`` after runtime values change (name -> new value); an ``owner``'s
        listeners are dropped with its variables (:meth:`undefine_owner`)."""
        self._listeners.append(fn)
        if owner is not None:
            self._owned.setdefault(owner, []).append(fn)

    def apply(self, changed: dict[str, str]) -> None:
        if not changed:
            return
        self.runtime.update(changed)
        for fn in list(self._listeners):
            fn(changed)


def core_variables() -> list[Variable]:
    """The variables the core owns, with ProxySQL's names and defaults."""
    d = Variable
    return [
        d("admin-admin_credentials", "admin:admin", credentials, doc="user:pass;… allowed on the admin port"),
        d("admin-stats_credentials", "stats:stats", credentials, doc="read-only users of the admin port"),
        d("admin-mysql_ifaces", "127.0.0.1:6032", interfaces, doc="admin listener(s)"),
        d("admin-read_only", "false", boolean, doc="admin SQL is query-only"),
        d("admin-version", __version__, readonly=True, doc="proxyd version"),
        d("mysql-interfaces", "127.0.0.1:6033", interfaces, doc="SQL listener(s); changes need a restart"),
        d("mysql-server_version", "8.0.11", doc="version announced to clients"),
        d("mysql-max_connections", "2048", int_range(1, 1000000), doc="client connections at most"),
        d("mysql-default_schema", "information_schema", doc="schema for users without one"),
        d("mysql-connect_timeout_server", "1000", int_range(10, 3600 * 1000),
          doc="ms allowed to reach a hostgroup's backend server before the statement fails (mysql backend)"),
        d("mysql-commands_stats", "true", boolean, doc="fill stats_mysql_commands_counters"),
        d("mysql-long_query_time", "1000", int_range(0, 20 * 24 * 3600 * 1000), doc="slow query threshold, ms"),
        d("mysql-query_digests", "true", boolean, doc="fill stats_mysql_query_digest"),
        d("mysql-query_digests_lowercase", "false", boolean),
        d("mysql-query_digests_no_digits", "false", boolean),
        d("mysql-query_digests_replace_null", "false", boolean),
        d("mysql-query_digests_keep_comment", "false", boolean),
        d("mysql-query_digests_grouping_limit", "3", int_range(1, 2089)),
        d("mysql-query_digests_groups_grouping_limit", "10", int_range(0, 2089)),
        d("mysql-query_digests_max_digest_length", "2048", int_range(16, 1048576)),
        d("mysql-query_digests_max_query_length", "65000", int_range(16, 1048576)),
        d("mysql-query_digests_track_hostname", "false", boolean),
    ]
