"""The admin command registry: canonical forms, prefix commands and aliases.

A statement is canonicalized (leading plain ``/* … */`` comments dropped, outer whitespace and
trailing ``;`` removed, inner whitespace runs collapsed) and then looked up case-insensitively.
Exact commands win over prefix commands; among prefixes the longest wins. The argument tail of a
prefix command is handed to the callback untouched, so quoted strings keep case and spacing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from proxyd.errors import RegistrationError

_LEADING_COMMENT = re.compile(r"\A\s*/\*(?!!)(?:.|\n)*?\*/")
_WS = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s;]+\Z")


def strip_leading_comments(sql: str) -> str:
    """Drop leading ``/* … */`` comments (not ``/*! … */`` executable ones)."""
    while m := _LEADING_COMMENT.match(sql):
        sql = sql[m.end():]
    return sql


def canonicalize(sql: str) -> str:
    """Canonical form used for matching: comments, outer blanks and ``;`` gone, blanks collapsed."""
    sql = _TRAILING.sub("", strip_leading_comments(sql)).strip()
    return _WS.sub(" ", sql)


def _key(canonical: str) -> str:
    return canonical.upper()


@dataclass
class CommandContext:
    """What a command callback gets: the databases, who asked, and the raw argument tail."""

    admin_db: Any
    config_db: Any
    stats_db: Any
    user: str
    client_address: str
    canonical: str
    args: str = ""
    session: Any = None  # the admin session (for warnings, read-only checks)


Callback = Callable[[CommandContext, str], Any]


@dataclass
class Command:
    canonical: str
    callback: Callback
    owner: str  # 'core' or the plugin name
    prefix: bool = False
    aliases: list[str] = field(default_factory=list)


class CommandRegistry:
    def __init__(self) -> None:
        self._exact: dict[str, Command] = {}
        self._prefix: dict[str, Command] = {}
        self._prefix_order: list[str] = []  # longest first

    def register(self, sql: str, callback: Callback, *, owner: str, prefix: bool = False) -> Command:
        canonical = canonicalize(sql)
        if not canonical:
            raise RegistrationError("cannot register an empty command")
        key = _key(canonical)
        table = self._prefix if prefix else self._exact
        if key in table or (not prefix and key in self._exact):
            other = table[key].owner
            raise RegistrationError(f"command '{canonical}' is already registered by {other}")
        cmd = Command(canonical, callback, owner, prefix)
        table[key] = cmd
        if prefix:
            self._prefix_order = sorted(self._prefix, key=len, reverse=True)
        return cmd

    def register_alias(self, canonical: str, alias: str, *, owner: str) -> None:
        target = self._exact.get(_key(canonicalize(canonical)))
        if target is None:
            raise RegistrationError(f"cannot alias unknown command '{canonical}'")
        akey = _key(canonicalize(alias))
        existing = self._exact.get(akey)
        if existing is target:
            return  # the same pair twice is a no-op
        if existing is not None:
            raise RegistrationError(f"alias '{alias}' would shadow a command of {existing.owner}")
        self._exact[akey] = target
        target.aliases.append(canonicalize(alias))

    def unregister_owner(self, owner: str) -> None:
        for table in (self._exact, self._prefix):
            for key in [k for k, c in table.items() if c.owner == owner]:
                del table[key]
        self._prefix_order = sorted(self._prefix, key=len, reverse=True)

    def snapshot(self) -> tuple[dict, dict]:
        return dict(self._exact), dict(self._prefix)

    def restore(self, snap: tuple[dict, dict]) -> None:
        self._exact, self._prefix = dict(snap[0]), dict(snap[1])
        self._prefix_order = sorted(self._prefix, key=len, reverse=True)

    def lookup(self, sql: str) -> tuple[Command, str, str] | None:
        """Find the command for a statement: (command, canonical text, raw argument tail)."""
        canonical = canonicalize(sql)
        key = _key(canonical)
        cmd = self._exact.get(key)
        if cmd is not None:
            return cmd, cmd.canonical, ""
        for pkey in self._prefix_order:
            if key.startswith(pkey) and (len(key) == len(pkey) or key[len(pkey)] == " "):
                cmd = self._prefix[pkey]
                raw = _TRAILING.sub("", strip_leading_comments(sql)).strip()
                tail = _skip_words(raw, pkey.count(" ") + 1)
                return cmd, f"{cmd.canonical} {tail}".rstrip(), tail
        return None

    def commands(self) -> list[Command]:
        seen: dict[int, Command] = {}
        for c in list(self._exact.values()) + list(self._prefix.values()):
            seen.setdefault(id(c), c)
        return list(seen.values())


def _skip_words(raw: str, n: int) -> str:
    """Return ``raw`` after its first ``n`` whitespace-separated words, untouched otherwise."""
    pos = 0
    for _ in range(n):
        m = re.compile(r"\s*\S+").match(raw, pos)
        if not m:
            return ""
        pos = m.end()
    return raw[pos:].strip()
