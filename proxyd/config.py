"""Reading and validating the proxyd cnf (libconfig syntax, ProxySQL-compatible keys).

The text is tokenized and parsed with the ``libconf`` library, extended so that every
setting remembers the file and line where its name appears.  libconf's own result has
no positions, and strict mode (unknown keys and fields are errors, spec section 12)
is only useful if those errors point at a line.

What this module checks: syntax, the types of the core keys, and the fields of the
core table rows.  What it leaves to the daemon: variable names (the daemon owns the
variable registry), value ranges (the tables' CHECK constraints) and the sections
that plugins claim (see :func:`check_unclaimed`).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import libconf

__all__ = [
    "ConfigError",
    "Config",
    "load_config",
    "parse_config_text",
    "check_unclaimed",
    "CORE_KEYS",
    "VARIABLE_SECTIONS",
    "TABLE_SECTIONS",
    "ROW_FIELDS",
]


class ConfigError(Exception):
    """A bad cnf.  ``str(exc)`` is ``"path:line: message"`` (or ``"path: message"``).

    ``ConfigError(message)`` alone is accepted too, for errors with no file at all.
    """

    path: str
    line: int | None
    message: str

    def __init__(self, path: str, line: int | None = None, message: str | None = None) -> None:
        if message is None and line is None:
            # single-argument form: the only argument is the message
            path, message = "", path
        assert message is not None
        self.path = path
        self.line = line
        self.message = message
        super().__init__(_format_error(path, line, message))


def _format_error(path: str, line: int | None, message: str) -> str:
    if not path:
        return message
    if line is None:
        return f"{path}: {message}"
    return f"{path}:{line}: {message}"


# --------------------------------------------------------------------------------------
# Schema of the core keys
# --------------------------------------------------------------------------------------

PROCESS_KEYS = ("datadir", "errorlog", "pidfile")
VARIABLE_SECTIONS = {"admin_variables": "admin", "mysql_variables": "mysql"}
TABLE_SECTIONS = ("mysql_servers", "mysql_users", "mysql_group_replication_hostgroups")
CORE_KEYS = frozenset((*PROCESS_KEYS, "plugins", *VARIABLE_SECTIONS, *TABLE_SECTIONS))

_INT, _STR = "int", "str"

# cnf field name -> (table column, type).  Two cnf spellings map to one column
# for ProxySQL compatibility (address/hostname, hostgroup/hostgroup_id).
ROW_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "mysql_servers": {
        "address": ("hostname", _STR),
        "hostname": ("hostname", _STR),
        "port": ("port", _INT),
        "hostgroup": ("hostgroup_id", _INT),
        "hostgroup_id": ("hostgroup_id", _INT),
        "gtid_port": ("gtid_port", _INT),
        "status": ("status", _STR),
        "weight": ("weight", _INT),
        "compression": ("compression", _INT),
        "max_connections": ("max_connections", _INT),
        "max_replication_lag": ("max_replication_lag", _INT),
        "use_ssl": ("use_ssl", _INT),
        "max_latency_ms": ("max_latency_ms", _INT),
        "comment": ("comment", _STR),
    },
    "mysql_users": {
        "username": ("username", _STR),
        "password": ("password", _STR),
        "active": ("active", _INT),
        "use_ssl": ("use_ssl", _INT),
        "default_hostgroup": ("default_hostgroup", _INT),
        "default_schema": ("default_schema", _STR),
        "schema_locked": ("schema_locked", _INT),
        "transaction_persistent": ("transaction_persistent", _INT),
        "fast_forward": ("fast_forward", _INT),
        "backend": ("backend", _INT),
        "frontend": ("frontend", _INT),
        "max_connections": ("max_connections", _INT),
        "attributes": ("attributes", _STR),
        "comment": ("comment", _STR),
    },
    "mysql_group_replication_hostgroups": {
        "writer_hostgroup": ("writer_hostgroup", _INT),
        "backup_writer_hostgroup": ("backup_writer_hostgroup", _INT),
        "reader_hostgroup": ("reader_hostgroup", _INT),
        "offline_hostgroup": ("offline_hostgroup", _INT),
        "active": ("active", _INT),
        "max_writers": ("max_writers", _INT),
        "writer_is_also_reader": ("writer_is_also_reader", _INT),
        "max_transactions_behind": ("max_transactions_behind", _INT),
        "comment": ("comment", _STR),
    },
}

# Required table columns per section, with the cnf spellings to suggest when missing.
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "mysql_servers": (("hostname", "'address' (or 'hostname')"),
                      ("hostgroup_id", "'hostgroup' (or 'hostgroup_id')")),
    "mysql_users": (("username", "'username'"),),
    "mysql_group_replication_hostgroups": tuple(
        (c, f"'{c}'") for c in ("writer_hostgroup", "backup_writer_hostgroup",
                                "reader_hostgroup", "offline_hostgroup")),
}


# --------------------------------------------------------------------------------------
# Tokenizing and parsing with positions
# --------------------------------------------------------------------------------------

Where = tuple[str, int]  # (file as displayed in messages, 1-based line)

_INCLUDE_RE = re.compile(r'@include[ \t]+"((?:[^"\\\n]|\\.)*)"')
_MAX_INCLUDE_DEPTH = 10  # libconfig's own limit


class _Group(dict):
    """A parsed ``{ ... }`` group that remembers where it opens and where each key is set."""

    __slots__ = ("where", "key_where")

    def __init__(self) -> None:
        super().__init__()
        self.where: Where | None = None
        self.key_where: dict[str, Where] = {}


class _List(tuple):
    """A parsed ``( ... )`` list (libconfig's heterogeneous list, used for table rows)."""

    where: Where | None = None


class _Array(list):
    """A parsed ``[ ... ]`` array (scalars only)."""

    where: Where | None = None


class _Tokenizer(libconf.Tokenizer):
    """libconf's tokenizer, with three fixes we need.

    * ``@include`` is handled here, as a token, so an include inside a comment or a
      string is not acted upon (libconf does it per line, before tokenizing);
      paths are relative to the including file's directory.
    * The line counter also advances over newlines inside tokens (a string may
      span lines), otherwise every later line number would be off.
    * Bad input raises :class:`ConfigError` with the file and line.
    """

    def __init__(self, filename: str, seen: tuple[str, ...] = ()) -> None:
        super().__init__(filename)
        self.seen = seen + (os.path.abspath(filename),) if not _is_pseudo(filename) else seen

    def tokenize(self, string: str) -> Iterator[libconf.Token]:
        pos = 0
        end = len(string)
        while pos < end:
            m = libconf.SKIP_RE.match(string, pos)
            if m:
                self.row += m.group(0).count("\n")
                pos = m.end()
                continue
            m = _INCLUDE_RE.match(string, pos)
            if m:
                yield from self._include(m.group(1))
                self.row += m.group(0).count("\n")
                pos = m.end()
                continue
            for cls, type_, regex in self.token_map:
                m = regex.match(string, pos)
                if m:
                    try:
                        token = cls(type_, m.group(0), self.filename, self.row, 0)
                    except (ValueError, UnicodeDecodeError):
                        # e.g. a lone '.' (libconf's float pattern) or a bad \x escape
                        what = "string escape" if type_ == "string" else "number"
                        raise ConfigError(self.filename, self.row,
                                          f"syntax error: invalid {what} {m.group(0)!r}") from None
                    yield token
                    self.row += m.group(0).count("\n")
                    pos = m.end()
                    break
            else:
                snippet = string[pos:pos + 20].split("\n", 1)[0]
                if string.startswith('"', pos):
                    msg = "syntax error: unterminated string"
                elif string.startswith("/*", pos):
                    msg = "syntax error: unterminated /* comment"
                else:
                    msg = f"syntax error: unexpected {snippet!r}"
                raise ConfigError(self.filename, self.row, msg)

    def _include(self, raw_name: str) -> list[libconf.Token]:
        try:
            name = libconf.decode_escapes(raw_name)
        except UnicodeDecodeError:
            raise ConfigError(self.filename, self.row,
                              f"syntax error: invalid escape in @include {raw_name!r}") from None
        base = "" if _is_pseudo(self.filename) else os.path.dirname(self.filename)
        target = os.path.join(base, name)
        if os.path.abspath(target) in self.seen:
            raise ConfigError(self.filename, self.row, f"circular @include of {name!r}")
        if len(self.seen) >= _MAX_INCLUDE_DEPTH:
            raise ConfigError(self.filename, self.row, "@include nested too deeply")
        try:
            text = _read_text(target)
        except ConfigError as exc:
            raise ConfigError(self.filename, self.row,
                              f"cannot @include {name!r}: {exc.message}") from None
        return list(_Tokenizer(target, self.seen).tokenize(text))


def _is_pseudo(filename: str) -> bool:
    """'<string>' and the like name no file: includes resolve against the cwd."""
    return filename.startswith("<")


def _at(where: Where, current_file: str) -> str:
    """'line N', or 'file:N' when the position is in another file than the message."""
    return f"line {where[1]}" if where[0] == current_file else f"{where[0]}:{where[1]}"


class _Stream(libconf.TokenStream):
    """Token stream whose errors carry the file and line of the offending token."""

    def here(self) -> tuple[str, int | None]:
        """File and line of the next token (of the last one at end of input)."""
        token = self.peek()
        if token is None:
            token = self.tokens[-1] if self.tokens else None
        return (token.filename, token.row) if token is not None else ("", None)

    def fail(self, msg: str) -> None:
        token = self.peek()
        what = "end of input" if token is None else repr(token.text)
        path, line = self.here()
        raise ConfigError(path, line, f"syntax error: unexpected {what}; {msg}")

    def error(self, msg: str) -> None:  # used by libconf's own expect()
        self.fail(msg)


class _Parser(libconf.Parser):
    """libconf's recursive-descent parser, recording positions and rejecting duplicates.

    Scalars (strings with adjacent concatenation, ints, hex, ``L`` suffix, floats,
    booleans) are libconf's; the container rules are overridden to attach positions.
    """

    tokens: _Stream

    def configuration(self) -> _Group:
        result = self.setting_list_or_empty()
        if not self.tokens.finished():
            self.tokens.fail("expected a setting name")
        return result

    def setting_list_or_empty(self) -> _Group:
        group = _Group()
        while True:
            name = self.tokens.accept("name")
            if name is None:
                return group
            if self.tokens.accept(":", "=") is None:
                self.tokens.fail(f"expected '=' or ':' after {name.text!r}")
            value = self.value()
            if value is None:
                self.tokens.fail(f"expected a value for {name.text!r}")
            self.tokens.accept(";", ",")
            if name.text in group:
                first = _at(group.key_where[name.text], name.filename)
                raise ConfigError(name.filename, name.row,
                                  f"duplicate setting {name.text!r} (first set at {first})")
            group[name.text] = value
            group.key_where[name.text] = (name.filename, name.row)

    def group(self) -> _Group | None:
        start = self.tokens.accept("{")
        if start is None:
            return None
        group = self.setting_list_or_empty()
        group.where = (start.filename, start.row)
        self._close("}", start, "a setting name or '}'")
        return group

    def list(self) -> _List | None:
        start = self.tokens.accept("(")
        if start is None:
            return None
        items = _List(self._comma_separated_list_or_empty(self.value))
        items.where = (start.filename, start.row)
        self._close(")", start, "',' or ')'")
        return items

    def array(self) -> _Array | None:
        start = self.tokens.accept("[")
        if start is None:
            return None
        items = _Array(self._comma_separated_list_or_empty(self.scalar_value))
        items.where = (start.filename, start.row)
        self._close("]", start, "',' or ']' (arrays hold scalars only)")
        return items

    def _close(self, closer: str, start: libconf.Token, expected: str) -> None:
        if self.tokens.accept(closer) is None:
            opened = _at((start.filename, start.row), self.tokens.here()[0])
            kind = {"{": "group", "(": "list", "[": "array"}[start.text]
            self.tokens.fail(f"expected {expected} in the {kind} opened at {opened}")


def _read_text(path: str) -> str:
    try:
        # newline=None folds CRLF to LF so line numbers and strings are the same on every OS
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ConfigError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {exc.strerror or exc}") from None


_LIBCONF_POS_RE = re.compile(r"in (?P<file>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"), row (?P<row>\d+)")


def _from_libconf_error(exc: libconf.ConfigParseError, default_path: str) -> ConfigError:
    """Safety net: turn a ConfigParseError raised inside libconf into a positioned ConfigError.

    Our subclasses raise ConfigError themselves; this only matters if a libconf code
    path we did not override ever raises.  Its messages embed ``in 'file', row N``.
    """
    text = str(exc)
    m = _LIBCONF_POS_RE.search(text)
    if m:
        try:
            path = ast.literal_eval(m.group("file"))
        except (ValueError, SyntaxError):
            path = default_path
        return ConfigError(path, int(m.group("row")), f"syntax error: {text}")
    return ConfigError(default_path, None, f"syntax error: {text}")


def _parse_tree(text: str, path: str) -> _Group:
    try:
        tokens = list(_Tokenizer(path).tokenize(text))
        return _Parser(_Stream(tokens)).parse()
    except libconf.ConfigParseError as exc:
        raise _from_libconf_error(exc, path) from None
    except RecursionError:
        raise ConfigError(path, None, "syntax error: nesting too deep") from None


# --------------------------------------------------------------------------------------
# The validated result
# --------------------------------------------------------------------------------------

PathKey = tuple[Any, ...]  # ('mysql_servers', 0, 'port'), ('mysql_variables', 'interfaces'), ...


@dataclass
class Config:
    """A parsed and type-checked cnf.  Rows are keyed by table column names and hold
    only the fields written in the file (the tables supply defaults)."""

    path: str
    text: str
    datadir: str | None = None
    errorlog: str | None = None
    pidfile: str | None = None
    plugins: list[str] | None = None
    admin_variables: dict[str, str] = field(default_factory=dict)
    mysql_variables: dict[str, str] = field(default_factory=dict)
    mysql_servers: list[dict[str, object]] = field(default_factory=list)
    mysql_users: list[dict[str, object]] = field(default_factory=list)
    mysql_group_replication_hostgroups: list[dict[str, object]] = field(default_factory=list)
    extra_sections: dict[str, object] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    # every recorded position (top-level keys, group keys, rows, row fields) with its file,
    # so messages about included files name the right file
    locations: dict[PathKey, Where] = field(default_factory=dict, repr=False, compare=False)
    display_path: str = field(default="", repr=False, compare=False)

    def line_of(self, key: str) -> int | None:
        """Line where top-level ``key`` is set (in whichever file sets it)."""
        return self.positions.get(key)

    def table_sections_present(self) -> list[str]:
        """Core variable/table sections the file sets, in file order."""
        wanted = set(VARIABLE_SECTIONS) | set(TABLE_SECTIONS)
        return [k for k in self.positions if k in wanted]

    def variable_line(self, prefix: str, name: str) -> int | None:
        """Line of variable ``name`` in ``<prefix>_variables`` (prefix 'admin' or 'mysql').

        ``name`` may be given with or without its ``prefix-``."""
        where = self.location(*self._variable_path(prefix, name))
        return where[1] if where else None

    def variable_error(self, prefix: str, name: str, message: str) -> ConfigError:
        """A ConfigError positioned at variable ``name`` (e.g. for an unknown variable)."""
        return self.error(message, *self._variable_path(prefix, name))

    @staticmethod
    def _variable_path(prefix: str, name: str) -> PathKey:
        prefix = prefix.rstrip("-")
        if name.startswith(prefix + "-"):
            name = name[len(prefix) + 1:]
        return (f"{prefix}_variables", name)

    def location(self, *path: Any) -> Where | None:
        """(file, line) of a setting: ``location('mysql_servers', 0, 'port')``;
        ``location('mysql_servers', 0)`` is the row's opening brace.  Works for extra
        (plugin) sections too."""
        return self.locations.get(tuple(path))

    def error(self, message: str, *path: Any) -> ConfigError:
        """A ConfigError at the most precise known position along ``path``
        (falls back to the enclosing row/section, then to the file alone)."""
        parts = tuple(path)
        while parts:
            where = self.locations.get(parts)
            if where is not None:
                return ConfigError(where[0], where[1], message)
            parts = parts[:-1]
        return ConfigError(self.display_path or self.path, None, message)


# --------------------------------------------------------------------------------------
# Building the Config from the parse tree
# --------------------------------------------------------------------------------------

class _Builder:
    def __init__(self, tree: _Group, path: str) -> None:
        self.tree = tree
        self.path = path
        self.locations: dict[PathKey, Where] = {}
        self._record(tree, ())

    def _record(self, value: Any, path: PathKey) -> None:
        """Index the position of every group key and list element under ``path``."""
        if isinstance(value, _Group):
            if path and value.where is not None and isinstance(path[-1], int):
                self.locations[path] = value.where
            for key, sub in value.items():
                self.locations[path + (key,)] = value.key_where[key]
                self._record(sub, path + (key,))
        elif isinstance(value, _List):
            for i, item in enumerate(value):
                if isinstance(item, _Group):
                    self._record(item, path + (i,))
                elif isinstance(item, (_List, _Array)) and item.where is not None:
                    self.locations[path + (i,)] = item.where
                    self._record(item, path + (i,))

    def fail(self, message: str, *path: Any) -> ConfigError:
        where = self.locations.get(tuple(path))
        if where is None:
            return ConfigError(self.path, None, message)
        return ConfigError(where[0], where[1], message)

    def build(self, text: str, abs_path: str) -> Config:
        cfg = Config(path=abs_path, text=text, locations=self.locations, display_path=self.path)
        for key, value in self.tree.items():
            cfg.positions[key] = self.tree.key_where[key][1]
            if key in PROCESS_KEYS:
                if not isinstance(value, str):
                    raise self.fail(f"'{key}' must be a string", key)
                setattr(cfg, key, value)
            elif key == "plugins":
                cfg.plugins = self._plugins(value)
            elif key in VARIABLE_SECTIONS:
                setattr(cfg, key, self._variables(key, value))
            elif key in TABLE_SECTIONS:
                setattr(cfg, key, self._rows(key, value))
            else:
                cfg.extra_sections[key] = _plain(value)
        return cfg

    def _plugins(self, value: Any) -> list[str]:
        if not isinstance(value, (_List, _Array)) or not all(isinstance(v, str) for v in value):
            raise self.fail("'plugins' must be a list of strings, e.g. (\"filters\", \"wasm\")",
                            "plugins")
        names: list[str] = []
        for name in value:
            if not name.strip():
                raise self.fail("'plugins' contains an empty name", "plugins")
            if name in names:
                raise self.fail(f"plugin '{name}' is listed twice in 'plugins'", "plugins")
            names.append(name)
        return names

    def _variables(self, section: str, value: Any) -> dict[str, str]:
        if not isinstance(value, _Group):
            raise self.fail(f"'{section}' must be a group: {section} = {{ name = value ... }}",
                            section)
        result: dict[str, str] = {}
        for name, v in value.items():
            text = _variable_text(v)
            if text is None:
                raise self.fail(f"'{section}.{name}' must be a string, number or boolean",
                                section, name)
            result[name] = text
        return result

    def _rows(self, section: str, value: Any) -> list[dict[str, object]]:
        if not isinstance(value, _List) or not all(isinstance(r, _Group) for r in value):
            raise self.fail(f"'{section}' must be a list of groups: {section} = ( {{ ... }}, ... )",
                            section)
        spec = ROW_FIELDS[section]
        rows: list[dict[str, object]] = []
        for i, raw in enumerate(value):
            label = f"{section}[{i}]"
            row: dict[str, object] = {}
            spelled: dict[str, str] = {}  # column -> cnf spelling used, to catch both spellings
            for name, v in raw.items():
                if name not in spec:
                    raise self.fail(f"unknown field '{name}' in {label}", section, i, name)
                column, kind = spec[name]
                if column in spelled:
                    raise self.fail(f"{label} sets both '{spelled[column]}' and '{name}'",
                                    section, i, name)
                spelled[column] = name
                row[column] = self._field(v, kind, f"{label}.{name}", (section, i, name))
            for column, wanted in _REQUIRED[section]:
                if column not in row:
                    raise self.fail(f"{label} is missing required field {wanted}", section, i)
            rows.append(row)
        return rows

    def _field(self, v: Any, kind: str, label: str, path: PathKey) -> object:
        if kind == _INT:
            if isinstance(v, bool):  # before int: bool is an int subclass
                return int(v)
            if isinstance(v, int):
                return int(v)  # drops libconf's LibconfInt64 subclass
            raise self.fail(f"{label} must be an integer", *path)
        if isinstance(v, str):
            return v
        raise self.fail(f"{label} must be a string", *path)


def _variable_text(v: Any) -> str | None:
    """Variables are stored as text, booleans as 'true'/'false' (spec section 4)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return v
    return None


def _plain(value: Any) -> object:
    """Parse-tree value -> plain Python (dict / list / scalar) for plugin sections."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------

def parse_config_text(text: str, path: str = "<string>") -> Config:
    """Parse and type-check cnf ``text``; ``path`` names it in messages and anchors
    relative ``@include`` paths.  Raises ConfigError."""
    tree = _parse_tree(text, path)
    abs_path = path if _is_pseudo(path) else os.path.abspath(path)
    return _Builder(tree, path).build(text, abs_path)


def load_config(path: str) -> Config:
    """Read, parse and type-check the cnf at ``path``.  Raises ConfigError."""
    return parse_config_text(_read_text(path), path)


def check_unclaimed(config: Config, claimed: set[str]) -> None:
    """Strict mode: the first top-level key that is neither core nor claimed by a
    plugin is an error at its line."""
    for key in config.extra_sections:
        if key not in claimed:
            raise config.error(f"unknown key '{key}'", key)
