"""A filter's pattern, compiled: plan-level criteria (plans, tables, template) and per-execution
criteria (regexes on user, client address, comments and statement text; bind-variable conditions).

Regexes are RE2 (linear time, no backreferences): no pattern can stall the proxy.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass
from typing import Any

import re2

from plugins.filters.bindvars import (
    Condition,
    Template,
    compile_conditions,
    compile_template,
)
from plugins.filters.errors import FilterValueError
from plugins.filters.model import REGEX_FIELDS, FilterDef

log = logging.getLogger("proxyd.plugin.filters")
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False  # a refused pattern is reported to the client, not to stderr


def check_regex(field: str, pattern: str) -> None:
    """Raise FilterValueError naming ``field`` if RE2 refuses ``pattern``."""
    try:
        re2.compile(pattern, RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise FilterValueError(field, f"'{pattern[:60]}' is not an RE2 regex: {reason}") from None


class RegexSet:
    """Many RE2 patterns searched in one pass; ``match(text)`` gives the indices that match, or None.

    RE2 compiles a set into one automaton within a memory budget. A set too big for it (thousands of
    complex patterns) is split in halves until each part compiles: more passes, still linear-time.
    """

    def __init__(self, patterns: list[str]):
        self.parts: list[tuple[int, Any]] = []  # (index of the part's first pattern, compiled set)
        self._add(patterns, 0)
        if len(self.parts) > 1:
            log.warning("%d regexes did not fit one RE2 set; searching them in %d sets", len(patterns),
                        len(self.parts))

    def _add(self, patterns: list[str], offset: int) -> None:
        s = re2.Set.SearchSet(RE2_OPTIONS)
        for p in patterns:
            s.Add(p)
        try:
            s.Compile()
        except re2.error:
            if len(patterns) == 1:
                raise FilterValueError("regex", f"'{patterns[0][:60]}' is too large for RE2") from None
            half = len(patterns) // 2
            self._add(patterns[:half], offset)
            self._add(patterns[half:], offset + half)
            return
        self.parts.append((offset, s))

    def match(self, text: str) -> list[int] | None:
        if len(self.parts) == 1:
            return self.parts[0][1].Match(text)
        found: list[int] = []
        for offset, s in self.parts:
            hits = s.Match(text)
            if hits:
                found.extend(offset + i for i in hits)
        return found or None


def _table_matcher(entries: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive regex over ``db.table`` for all entries (``*`` is a wildcard)."""
    if not entries:
        return None
    parts = [fnmatch.translate(e.lower()).replace(r"(?s:", "(?:") for e in entries]
    return re.compile("|".join(f"(?:{p})" for p in parts))


@dataclass
class Pattern:
    plans: frozenset[str]
    tables: re.Pattern[str] | None
    template: Template | None
    conditions: tuple[Condition, ...]
    regexes: dict[str, str]  # field -> pattern, non-empty ones only
    # lower-case table names without wildcards: a statement whose text contains none of them cannot
    # match, and is decided without a parse (None: some entry's table part is a wildcard)
    table_needles: tuple[str, ...] | None = None

    @property
    def plan_level(self) -> bool:
        return bool(self.plans or self.tables is not None or self.template is not None)

    @property
    def per_session(self) -> tuple[str, ...]:
        """Regex fields whose text is the same for every statement of a session and digest."""
        return tuple(f for f in ("user_regex", "request_ip_regex", "leading_comment_regex",
                                 "trailing_comment_regex") if f in self.regexes)

    @property
    def per_statement(self) -> bool:
        """Needs the statement's own text or values (query_regex, bind_var_conds)."""
        return "query_regex" in self.regexes or bool(self.conditions)

    def tables_match(self, tables: list[str]) -> bool:
        assert self.tables is not None
        return any(self.tables.match(t) for t in tables)


def compile_pattern(f: FilterDef) -> Pattern:
    """Compile and validate the pattern fields of ``f``; FilterValueError names the bad field."""
    regexes: dict[str, str] = {}
    for field in REGEX_FIELDS:
        pattern = getattr(f, field)
        if pattern:
            check_regex(field, pattern)
            regexes[field] = pattern
    template = compile_template(f.query_template) if f.query_template else None
    conditions = compile_conditions(f.bind_var_conds, template)
    tables = f.fully_qualified_table_names
    needles = tuple(t.split(".", 1)[1].lower() for t in tables)
    return Pattern(frozenset(f.plans), _table_matcher(tables), template, conditions, regexes,
                   None if any(c in n for n in needles for c in "*?[") else needles)


def values_of(ctx: Any) -> list[Any]:
    from plugins.filters.bindvars import statement_values

    return statement_values(ctx.sql, ctx.params)
