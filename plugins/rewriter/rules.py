"""Rules: validating a ``query_rewrite_rules`` row, and the compiled, indexed set that matches statements.

A :class:`RuleSet` is immutable once built and swapped whole by a load, so a statement always sees
one consistent set. Matching is MySQL's three steps (key, then binding, then literals); the key
lookup is cached per digest, so a statement that matches no rule costs one dict lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

from proxyd.classify import statement_kind
from proxyd.digest import Digest, DigestOptions, digest

from .literals import PLACEHOLDER, Literal, match_key, same_value, scan_literals

log = logging.getLogger("proxyd.plugin.rewriter")

SUPPORTED_KINDS = frozenset({"SELECT", "SELECT_FOR_UPDATE", "INSERT", "REPLACE", "UPDATE", "DELETE"})
CACHE_LIMIT = 65536  # distinct digests remembered before the per-digest cache starts over

# MySQL's texts (plugin/rewriter/messages.h), kept so scripts written for MySQL recognize them.
NOT_SUPPORTED = "Statement type of pattern not supported."
NO_DIGEST = "Unable to get a digest for pattern."
TOO_MANY_MARKERS = "Replacement has more parameter markers than pattern."


class RuleError(ValueError):
    """A rule that cannot be loaded; the text goes into the row's ``message``."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One enabled rule, compiled for matching."""

    id: int
    pattern: str
    pattern_database: str | None
    replacement: str
    key: str
    literals: tuple[Literal, ...]
    markers: tuple[int, ...]  # literal index of each ? in the pattern
    bound: bool  # the pattern names an unqualified table: pattern_database must be the session schema
    pieces: tuple[str, ...]  # the replacement cut at its ? markers (one more piece than markers)
    digest_hex: str

    def fill(self, values: list[str]) -> str:
        out = [self.pieces[0]]
        for value, piece in zip(values, self.pieces[1:]):
            out.append(value)
            out.append(piece)
        return "".join(out)


def pattern_facts(sql: str, options: DigestOptions) -> tuple[str, str, list[Literal]]:
    """(key, 64-bit hash of the key as 0x%016X, literals) of a pattern; RuleError when its digest
    text would be cut."""
    d = digest(sql, options)
    if possibly_cut(d, options):
        raise RuleError(NO_DIGEST)
    key = match_key(d.text)
    return key, "0x" + blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest().upper(), \
        scan_literals(sql, options)


def possibly_cut(d: Digest, options: DigestOptions) -> bool:
    # A cut never splits a character and drops at most one trailing space, so an uncut text is
    # always more than 4 bytes under the limit: a text that close to it may be a cut one.
    return len(d.text) * 4 + 4 >= options.max_digest_length and \
        len(d.text.encode("utf-8", "surrogatepass")) + 4 >= options.max_digest_length


def compile_rule(row: dict[str, Any], options: DigestOptions) -> Rule:
    """Validate one enabled row as MySQL's Rewriter does; RuleError carries the ``message``."""
    pattern, replacement = row.get("pattern"), row.get("replacement")
    if pattern is None:
        raise RuleError("Pattern is NULL.")
    if replacement is None:
        raise RuleError("Replacement is NULL.")
    tree = _parse(str(pattern), "pattern")
    if statement_kind(pattern) not in SUPPORTED_KINDS:
        raise RuleError(NOT_SUPPORTED)
    key, hex_, lits = pattern_facts(pattern, options)
    _parse(str(replacement), "replacement")
    markers = tuple(i for i, lit in enumerate(lits) if lit.kind == PLACEHOLDER)
    repl_markers = [lit for lit in scan_literals(replacement, options) if lit.kind == PLACEHOLDER]
    if len(repl_markers) > len(markers):
        raise RuleError(TOO_MANY_MARKERS)
    pieces, at = [], 0
    for m in repl_markers:
        pieces.append(replacement[at:m.start])
        at = m.end
    pieces.append(replacement[at:])
    return Rule(int(row["id"]), pattern, row.get("pattern_database"), replacement, key, tuple(lits), markers,
                _has_unqualified_table(tree), tuple(pieces), hex_)


def _parse(sql: str, what: str) -> Any:
    """Parse as a prepared statement (``?`` allowed); RuleError in MySQL's message format."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    text = sql.strip().rstrip(";")
    word = text.split(None, 1)[0].upper() if text.split() else ""
    if word == "REPLACE":  # sqlglot reads REPLACE as an opaque command: check it as the INSERT it mirrors
        text = "INSERT" + text.lstrip()[len("REPLACE"):]
    try:
        trees = sqlglot.parse(text, read="mysql")
    except ParseError as exc:
        e = exc.errors[0] if exc.errors else {}
        where = f" at line {e.get('line')}, col {e.get('col')}" if e else ""
        raise RuleError(f"Parse error in {what}: >>{e.get('description', str(exc))}{where}<<") from None
    except TokenError as exc:
        raise RuleError(f"Parse error in {what}: >>{exc}<<") from None
    except Exception as exc:  # noqa: BLE001 - whatever the parser trips on is this rule's problem, not the load's
        raise RuleError(f"Parse error in {what}: >>{type(exc).__name__}: {exc}<<") from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise RuleError(f"Parse error in {what}: >>{'empty statement' if not trees else 'more than one statement'}<<")
    return trees[0]


def _has_unqualified_table(tree: Any) -> bool:
    import sqlglot.expressions as exp

    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return any(t.name and not t.db and t.name.lower() not in ctes for t in tree.find_all(exp.Table))


@dataclass(slots=True)
class Match:
    rule: Rule
    sql: str
    param_map: tuple[int, tuple[int, ...]] | None


class RuleSet:
    """The live rules, indexed by key in ascending id order, with a per-digest candidate cache."""

    def __init__(self, rules: list[Rule], options: DigestOptions):
        self.rules = sorted(rules, key=lambda r: r.id)
        self.options = options
        self.by_key: dict[str, tuple[Rule, ...]] = {}
        for rule in self.rules:
            self.by_key[rule.key] = (*self.by_key.get(rule.key, ()), rule)
        self._cache: dict[int, tuple[str, tuple[Rule, ...]]] = {}

    def __len__(self) -> int:
        return len(self.rules)

    def candidates(self, d: Digest) -> tuple[Rule, ...]:
        """Rules whose key is the statement's: the per-statement hot path (one dict lookup)."""
        hit = self._cache.get(d.hash)
        if hit is not None and hit[0] == d.text:  # equal texts: one pointer or memcmp check
            return hit[1]
        found = () if possibly_cut(d, self.options) else self.by_key.get(match_key(d.text), ())
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[d.hash] = (d.text, found)
        return found

    def match(self, sql: str, schema: str | None, candidates: tuple[Rule, ...],
              near_miss: Callable[[Rule, str], None] | None = None) -> Match | None:
        """The lowest-id candidate whose binding and literals agree, with the rewritten text."""
        lits = scan_literals(sql, self.options)
        for rule in candidates:
            if rule.bound and schema != rule.pattern_database:
                if near_miss:
                    near_miss(rule, f"session schema {schema!r} is not pattern_database {rule.pattern_database!r}")
                continue
            if len(lits) != len(rule.literals):
                if near_miss:
                    near_miss(rule, f"{len(lits)} literals, the pattern has {len(rule.literals)}")
                continue
            bad = next((i for i, (p, s) in enumerate(zip(rule.literals, lits))
                        if p.kind != PLACEHOLDER and not same_value(p, s)), None)
            if bad is not None:
                if near_miss:
                    near_miss(rule, f"literal {bad + 1} is {lits[bad].text}, the pattern wants {rule.literals[bad].text}")
                continue
            values = [lits[i] for i in rule.markers[:len(rule.pieces) - 1]]  # surplus values are dropped
            return Match(rule, rule.fill([v.text for v in values]), _param_map(lits, values))
        return None


def _param_map(lits: list[Literal], values: list[Literal]) -> tuple[int, tuple[int, ...]] | None:
    """Which client parameter feeds each ? of the new text, when a prepared statement's markers moved."""
    ordinal = {lit.start: n for n, lit in enumerate(x for x in lits if x.kind == PLACEHOLDER)}
    if not ordinal:
        return None
    used = tuple(ordinal[v.start] for v in values if v.kind == PLACEHOLDER)
    return None if used == tuple(range(len(ordinal))) else (len(ordinal), used)
