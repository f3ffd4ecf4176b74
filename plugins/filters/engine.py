"""The runtime filter set and the per-statement match, built for a lean hot path.

A :class:`RuntimeSet` is immutable: every change of the runtime filters (DDL, LOAD FILTERS TO
RUNTIME, an action appearing or going) builds a new one, so its caches never need invalidating.

Matching runs in three steps, each cached as far as its inputs allow:

1. **plan level** (statement kind, tables, template), once per ``(digest, schema)``;
2. **session level** (regexes on user, client address, leading and trailing comment), once per
   ``(digest, schema, user, address, comments)`` — only the fields some filter uses are in the key;
3. **statement level** (``query_regex`` on the text, ``bind_var_conds`` on the values), per statement,
   on the short list left by steps 1–2; all query regexes run as one RE2 set, so the cost grows with
   the filters that match, not with those that exist.

A statement that no filter can match costs one digest-keyed dictionary lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plugins.filters.actions import FilterAction
from plugins.filters.model import FilterDef
from plugins.filters.pattern import Pattern, RegexSet, values_of
from proxyd.classify import plan_name

_CACHE_LIMIT = 20_000  # entries per cache before it is simply cleared
_NONE: tuple = ()
_SESSION_FIELDS = ("user_regex", "request_ip_regex", "leading_comment_regex", "trailing_comment_regex")


@dataclass
class FilterStats:
    """Counters of one filter (by name; kept across ALTER, dropped with the filter)."""

    matches: int = 0  # statements whose pattern matched
    failed: int = 0  # refused by the action's before (including queue rejections)
    answered: int = 0  # answered with a result by the action's before
    replaced: int = 0  # outcome replaced by the action's after
    queued: int = 0  # had to wait for a concurrency slot
    rejected: int = 0  # refused at once because the concurrency queue was full
    wait_us: int = 0  # total time spent waiting for a slot
    running: int = 0  # statements holding a concurrency slot now
    max_running: int = 0  # peak of ``running``


@dataclass(eq=False)
class RuntimeFilter:
    """One runtime filter: definition, compiled pattern, action instance (None while inert)."""

    definition: FilterDef
    pattern: Pattern
    action: FilterAction | None
    stats: FilterStats
    rank: int = 0  # position in (priority, name) order
    per_session: tuple[str, ...] = ()
    query_index: int | None = None  # index in the RuntimeSet's query-regex RE2 set

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def live(self) -> bool:
        return self.definition.active and self.action is not None


@dataclass
class _Volatile:
    """Candidates needing the statement itself: regex ones by their index in the query-regex set."""

    by_index: dict[int, RuntimeFilter]
    others: tuple[RuntimeFilter, ...]  # bind_var_conds without a query_regex

    @staticmethod
    def of(filters: list[RuntimeFilter]) -> _Volatile | None:
        if not filters:
            return None
        return _Volatile({f.query_index: f for f in filters if f.query_index is not None},
                         tuple(f for f in filters if f.query_index is None))


@dataclass
class _Plan:
    candidates: tuple[RuntimeFilter, ...]
    session_free: bool  # no candidate has a per-session criterion
    fixed: tuple[RuntimeFilter, ...] = ()  # when session_free: candidates with no per-statement criterion
    volatile: _Volatile | None = None  # when session_free: candidates with one


@dataclass
class RuntimeSet:
    """All runtime filters (sorted by priority, then name) plus the match caches."""

    filters: list[RuntimeFilter]
    live: list[RuntimeFilter] = field(init=False)
    _plans: dict = field(init=False, default_factory=dict)
    _sessions: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.filters.sort(key=lambda f: (f.definition.priority, f.definition.name))
        for i, f in enumerate(self.filters):
            f.rank = i
            f.per_session = f.pattern.per_session
        self.live = [f for f in self.filters if f.live]
        used = {name for f in self.live for name in f.per_session}
        self.use_user, self.use_ip = "user_regex" in used, "request_ip_regex" in used
        self.use_lc, self.use_tc = "leading_comment_regex" in used, "trailing_comment_regex" in used
        self.field_sets = {name: self._regex_set(name) for name in used}
        self.query_set = self._regex_set("query_regex")

    def _regex_set(self, fld: str) -> tuple[RegexSet, list[RuntimeFilter]] | None:
        """One RE2 set over ``fld`` of every live filter using it; filter i's pattern is index i."""
        users = [f for f in self.live if fld in f.pattern.regexes]
        if not users:
            return None
        if fld == "query_regex":
            for i, f in enumerate(users):
                f.query_index = i
        return RegexSet([f.pattern.regexes[fld] for f in users]), users

    def by_name(self, name: str) -> RuntimeFilter | None:
        for f in self.filters:
            if f.name == name:
                return f
        return None

    # -- matching ---------------------------------------------------------------------------------
    def match(self, ctx: Any) -> tuple[RuntimeFilter, ...]:
        """The live filters matching the statement, in priority order."""
        key = (ctx.digest.hash, ctx.schema)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(ctx, key)
        if not plan.candidates:
            return _NONE
        if plan.session_free:
            fixed, volatile = plan.fixed, plan.volatile
        else:
            fixed, volatile = self._session(ctx, key, plan)
        if volatile is None:
            return fixed
        passed = self._statement(ctx, volatile)
        if not passed:
            return fixed
        if not fixed:
            return passed
        return tuple(sorted(fixed + passed, key=lambda f: f.rank))

    def _plan(self, ctx: Any, key: tuple) -> _Plan:
        plan: str | None = None  # the kind, tables and digest text only when some filter asks
        tables: list[str] | None = None
        digest_text: str | None = None
        lowered: str | None = None
        out: list[RuntimeFilter] = []
        for f in self.live:
            p = f.pattern
            if p.plans:
                if plan is None:
                    plan = plan_name(ctx.kind)
                if plan not in p.plans:
                    continue
            if p.template is not None:
                if digest_text is None:
                    digest_text = ctx.digest.text.lower()
                if p.template.digest_text(ctx.digest_options) != digest_text:
                    continue
            if p.tables is not None:
                if p.table_needles is not None:
                    if lowered is None:
                        lowered = ctx.sql.lower()  # not the digest: no_digits would hide names
                    if not any(n in lowered for n in p.table_needles):
                        continue
                if tables is None:
                    tables = [f"{(db or '').lower()}.{t.lower()}" for db, t in ctx.tables]
                if not p.tables_match(tables):
                    continue
            out.append(f)
        candidates = tuple(out)
        session_free = not any(f.per_session for f in candidates)
        entry = _Plan(candidates, session_free)
        if session_free:
            entry.fixed = tuple(f for f in candidates if not f.pattern.per_statement)
            entry.volatile = _Volatile.of([f for f in candidates if f.pattern.per_statement])
        if len(self._plans) >= _CACHE_LIMIT:
            self._plans.clear()
        self._plans[key] = entry
        return entry

    def _session(self, ctx: Any, key: tuple, plan: _Plan) -> tuple[tuple, _Volatile | None]:
        skey = (key, ctx.user if self.use_user else None,
                client_host(ctx.client_address) if self.use_ip else None,
                # the core's "first comment" may sit mid-statement; leading means before the statement
                ((ctx.leading_comment or "") if ctx.sql.lstrip()[:2] == "/*" else "") if self.use_lc else None,
                (ctx.trailing_comment or "") if self.use_tc else None)
        hit = self._sessions.get(skey)
        if hit is not None:
            return hit
        texts = {fld: text or "" for fld, text in zip(_SESSION_FIELDS, skey[1:]) if text is not None}
        hits = {fld: self._field_hits(fld, text) for fld, text in texts.items()}
        fixed: list[RuntimeFilter] = []
        volatile: list[RuntimeFilter] = []
        for f in plan.candidates:
            if all(f in hits[fld] for fld in f.per_session):
                (volatile if f.pattern.per_statement else fixed).append(f)
        result = (tuple(fixed), _Volatile.of(volatile))
        if len(self._sessions) >= _CACHE_LIMIT:
            self._sessions.clear()
        self._sessions[skey] = result
        return result

    def _field_hits(self, fld: str, text: str) -> set[RuntimeFilter]:
        s, index = self.field_sets[fld]
        found = s.match(text)
        return {index[i] for i in found} if found else set()

    def _statement(self, ctx: Any, volatile: _Volatile) -> tuple[RuntimeFilter, ...]:
        out: list[RuntimeFilter] = []
        if volatile.by_index:
            hits = self.query_set[0].match(ctx.sql)
            if hits:
                by_index = volatile.by_index
                out = [by_index[i] for i in hits if i in by_index]
        out.extend(volatile.others)
        if not out:
            return _NONE
        values: list | None = None
        passed: list[RuntimeFilter] = []
        for f in out:
            if f.pattern.conditions:
                if values is None:
                    values = values_of(ctx)
                if not all(c.holds(values) for c in f.pattern.conditions):
                    continue
            passed.append(f)
        if len(passed) > 1:
            passed.sort(key=lambda f: f.rank)
        return tuple(passed)


def client_host(address: str) -> str:
    """``host`` of a ``host:port`` client address (IPv6 hosts keep their colons)."""
    host, sep, port = address.rpartition(":")
    return host if sep and port.isdigit() else address
