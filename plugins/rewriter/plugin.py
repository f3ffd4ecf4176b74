"""The ``rewriter`` plugin: MySQL's Rewriter over proxyd's SQL port.

Rules live in the tiered table ``query_rewrite_rules``; ``LOAD QUERY REWRITE RULES TO RUNTIME``
validates every enabled row, writes each row's computed columns back to memory and swaps the whole
set in, or, if any rule is bad, changes nothing at runtime and fails with MySQL's 1644. The
``post_parse`` hook (after every plugin's ``pre_parse``, as MySQL's Rewriter is a post-parse plugin)
rewrites matching statements, prepared ones at prepare time, and adds MySQL's Note 1105. A
``before_execution`` hook answers MySQL's ``SHOW STATUS LIKE 'Rewriter%'`` and
``CALL query_rewrite.flush_rewrite_rules()`` on the SQL port.
"""

from __future__ import annotations

import time
from typing import Any

from proxyd.digest import DigestOptions
from proxyd.errors import ProxydError, TierError
from proxyd.hookspecs import hookimpl
from proxyd.results import Ok, ResultSet, Warning_
from proxyd.tiers import Rows, TieredObject
from proxyd.variables import boolean, int_range

from .rules import Rule, RuleError, RuleSet, compile_rule, pattern_facts
from .sql_port import FLUSH_ROUTINE, is_flush, status_like

TABLE = "query_rewrite_rules"
RULES_DDL = f"""CREATE TABLE {TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    pattern VARCHAR NOT NULL,
    pattern_database VARCHAR,
    replacement VARCHAR NOT NULL,
    enabled VARCHAR NOT NULL DEFAULT 'YES' CHECK (enabled IN ('YES','NO')),
    message VARCHAR,
    pattern_digest VARCHAR,
    normalized_pattern VARCHAR)"""
STATS_DDL = """CREATE TABLE stats_query_rewrite (
    Variable_Name VARCHAR NOT NULL PRIMARY KEY,
    Variable_Value VARCHAR NOT NULL)"""
RULE_STATS_DDL = """CREATE TABLE stats_query_rewrite_rules (
    id INTEGER NOT NULL PRIMARY KEY,
    hits INTEGER NOT NULL,
    last_hit_at INTEGER)"""

LOAD_FAILED = "Loading of some rule(s) failed."  # MySQL's text, with its code 1644 / SQLSTATE 45000
NOTE_LIMIT = 512  # bytes: MySQL's message buffer


def skip_list(value: str) -> str:
    """``rewriter-skip_users``: a comma list of user names, stored trimmed."""
    return ",".join(u.strip() for u in value.split(",") if u.strip())


def rewrite_note(before: str, after: str) -> Warning_:
    """The Note MySQL raises after a query rewrite plugin changed a statement."""
    text = f"Query '{before}' rewritten to '{after}' by a query rewrite plugin"
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > NOTE_LIMIT:
        text = raw[:NOTE_LIMIT].decode("utf-8", "ignore")
    return Warning_("Note", 1105, text)


class RewriterPlugin:
    PROXYD_ABI = ">=1.0,<2"
    PROXYD_REQUIRES: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.services: Any = None
        self.ruleset = RuleSet([], DigestOptions())
        self.runtime: list[dict[str, Any]] = []  # every loaded row (disabled ones too), computed columns set
        self.hits: dict[int, list] = {}  # rule id -> [hits, last hit (unix time) or None]
        self.hit_owner: dict[int, tuple[str, str]] = {}  # rule id -> (pattern, replacement) the hits belong to
        self.rewritten = self.reloads = 0
        self.reload_error = False
        self.pending_writes: list[tuple] = []  # computed columns from a load before start()

    # -- lifecycle ----------------------------------------------------------------------------------
    @hookimpl
    def init(self, services: Any) -> None:
        self.services = services
        services.want_plain_statements(bool(self.ruleset.rules))
        services.register_tiered_object(TieredObject(
            name="QUERY REWRITE RULES", tables=[(TABLE, RULES_DDL)], load_to_runtime=self.load_rules,
            save_from_runtime=self.save_rules, cnf_section=TABLE))
        services.register_variable("rewriter-enabled", True, check=boolean,
                                   doc="rewrite statements that match a rule")
        services.register_variable("rewriter-verbose", 1, check=int_range(0, 2),
                                   doc="at 2, log why a statement whose key matched a rule was not rewritten")
        services.register_variable("rewriter-skip_users", "", check=skip_list,
                                   doc="comma list of users whose statements are never rewritten")
        services.register_variable("rewriter-flush_users", "", check=skip_list,
                                   doc="comma list of users who may CALL query_rewrite.flush_rewrite_rules()")
        services.register_table("stats", "stats_query_rewrite", STATS_DDL, refresh=self.refresh_stats)
        services.register_table("stats", "stats_query_rewrite_rules", RULE_STATS_DDL, refresh=self.refresh_rule_stats)

    @hookimpl
    def start(self) -> None:
        self._write_computed([])  # a load at boot ran before the databases were usable

    @hookimpl
    def status_json(self) -> dict[str, Any]:
        return {"rules": len(self.ruleset), "rewritten": self.rewritten, "reload_error": self.reload_error}

    # -- MEMORY -> RUNTIME ---------------------------------------------------------------------------
    def load_rules(self, rows: Rows) -> None:
        options = self._digest_options()
        table = sorted(rows[TABLE], key=lambda r: int(r["id"]))
        compiled: list[Rule] = []
        runtime: list[dict[str, Any]] = []
        writes: list[tuple] = []
        for row in table:
            row = dict(row)
            if str(row.get("enabled")).upper() == "YES":
                try:
                    rule = compile_rule(row, options)
                    row.update(message=None, pattern_digest=rule.digest_hex, normalized_pattern=rule.key)
                    compiled.append(rule)
                except RuleError as exc:
                    row.update(message=str(exc), **_display_facts(row.get("pattern"), options))
                writes.append((row["message"], row["pattern_digest"], row["normalized_pattern"], row["id"]))
            runtime.append(row)
        self.reloads += 1
        self._write_computed(writes)
        failed = sum(1 for w in writes if w[0] is not None)
        if failed:
            self.reload_error = True
            raise TierError(f"{LOAD_FAILED} {failed} of {len(writes)} enabled rules failed; runtime unchanged, "
                            f"see the message column of {TABLE}", 1644, "45000")
        self._carry_hits(compiled)
        self.ruleset, self.runtime, self.reload_error = RuleSet(compiled, options), runtime, False
        self.services.want_plain_statements(bool(compiled))  # no rule: plain statements need not come here

    def save_rules(self) -> Rows:
        return {TABLE: [dict(r) for r in self.runtime]}

    def _write_computed(self, writes: list[tuple]) -> None:
        """Write message / pattern_digest / normalized_pattern back to memory (later, if before start())."""
        self.pending_writes.extend(writes)
        if not self.pending_writes:
            return
        try:
            db = self.services.admin_db
        except ProxydError:  # not usable before start(): start() writes them
            return
        for w in self.pending_writes:
            db.execute(f"UPDATE main.{TABLE} SET message=?, pattern_digest=?, normalized_pattern=? WHERE id=?", w)
        self.pending_writes = []

    def _carry_hits(self, rules: list[Rule]) -> None:
        """A rule keeps its hit count across loads unless its pattern or replacement changed."""
        hits, owner = {}, {}
        for r in rules:
            owner[r.id] = (r.pattern, r.replacement)
            hits[r.id] = self.hits[r.id] if self.hit_owner.get(r.id) == owner[r.id] else [0, None]
        self.hits, self.hit_owner = hits, owner

    def _digest_options(self) -> DigestOptions:
        """The options the SQL port digests statements with (sql_frontend builds the same from these)."""
        get = self.services.get_variable

        def on(name: str) -> bool:
            return get(f"mysql-query_digests_{name}") == "true"

        return DigestOptions(
            lowercase=on("lowercase"), no_digits=on("no_digits"), replace_null=on("replace_null"),
            keep_comment=on("keep_comment"), grouping_limit=int(get("mysql-query_digests_grouping_limit")),
            groups_grouping_limit=int(get("mysql-query_digests_groups_grouping_limit")),
            max_digest_length=int(get("mysql-query_digests_max_digest_length")),
            max_query_length=int(get("mysql-query_digests_max_query_length")))

    def _rekey(self, options: DigestOptions) -> RuleSet:
        """The digest options changed: key the live rules again under the new ones."""
        rules = []
        for row in self.runtime:
            if str(row.get("enabled")).upper() == "YES":
                try:
                    rules.append(compile_rule(row, options))
                except RuleError as exc:
                    self.services.log_message(4, f"rule {row['id']} dropped after a digest options change: {exc}")
        self.ruleset = RuleSet(rules, options)
        return self.ruleset

    # -- the query path --------------------------------------------------------------------------------
    @hookimpl
    def post_parse(self, ctx: Any) -> None:
        rs = self.ruleset
        if not rs.rules:
            return
        get = self.services.get_variable
        if get("rewriter-enabled") != "true":
            return
        skip = get("rewriter-skip_users")
        if skip and ctx.user in skip.split(","):
            return
        if ctx.digest_options is not rs.options:
            if ctx.digest_options == rs.options:
                rs.options = ctx.digest_options  # an equal object: later checks are one identity test
            else:
                rs = self._rekey(ctx.digest_options)
        candidates = rs.candidates(ctx.digest)
        if not candidates:
            return
        near_miss = self._near_miss if get("rewriter-verbose") == "2" else None
        found = rs.match(ctx.sql, ctx.schema, candidates, near_miss)
        if found is None:
            return
        hit = self.hits.setdefault(found.rule.id, [0, None])
        hit[0] += 1
        hit[1] = int(time.time())
        if found.sql == ctx.sql:
            return
        self.rewritten += 1
        ctx.warnings.append(rewrite_note(ctx.sql, found.sql))
        ctx.sql = found.sql
        if found.param_map is not None:
            ctx.param_map = found.param_map

    @hookimpl
    def before_execution(self, ctx: Any) -> Any:
        """Answer MySQL's Rewriter statements on the SQL port (see sql_port.py); nothing else."""
        word = ctx.sql[:4].upper()
        if word == "SHOW":
            like = status_like(ctx.sql)
            if like is not None:
                return ResultSet(["Variable_name", "Value"],
                                 [(n, v) for n, v in self.status_rows() if like.match(n)])
        elif word == "CALL" and is_flush(ctx.sql):
            return self.flush_from_sql_port(ctx)
        return None

    def flush_from_sql_port(self, ctx: Any) -> Any:
        """MySQL's reload procedure: the same as LOAD QUERY REWRITE RULES TO RUNTIME, for listed users."""
        if ctx.user not in self.services.get_variable("rewriter-flush_users").split(","):
            host = ctx.client_address.rsplit(":", 1)[0]
            return ProxydError(f"execute command denied to user '{ctx.user}'@'{host}' for routine "
                               f"'{FLUSH_ROUTINE}'", 1370, "42000")
        cols = ("id", "pattern", "pattern_database", "replacement", "enabled", "message", "pattern_digest",
                "normalized_pattern")
        rows = self.services.admin_db.execute(f"SELECT {', '.join(cols)} FROM main.{TABLE}")
        self.load_rules({TABLE: [dict(zip(cols, r)) for r in rows]})  # a TierError is the answer
        return Ok()

    def _near_miss(self, rule: Rule, why: str) -> None:
        self.services.log_message(6, f"rule {rule.id} matched the statement's key but not: {why}")

    # -- stats -----------------------------------------------------------------------------------------
    def status_rows(self) -> list[tuple[str, str]]:
        """MySQL's four Rewriter status variables."""
        return [("Rewriter_number_loaded_rules", str(len(self.ruleset))),
                ("Rewriter_number_reloads", str(self.reloads)),
                ("Rewriter_number_rewritten_queries", str(self.rewritten)),
                ("Rewriter_reload_error", "ON" if self.reload_error else "OFF")]

    def refresh_stats(self) -> None:
        db = self.services.stats_db
        db.execute("DELETE FROM stats.stats_query_rewrite")
        for row in self.status_rows():
            db.execute("INSERT INTO stats.stats_query_rewrite VALUES (?, ?)", row)

    def refresh_rule_stats(self) -> None:
        db = self.services.stats_db
        db.execute("DELETE FROM stats.stats_query_rewrite_rules")
        for rule in self.ruleset.rules:
            hits, last = self.hits.get(rule.id, (0, None))
            db.execute("INSERT INTO stats.stats_query_rewrite_rules VALUES (?, ?, ?)", (rule.id, hits, last))


def _display_facts(pattern: Any, options: DigestOptions) -> dict[str, str | None]:
    """pattern_digest / normalized_pattern for a failed rule, when its pattern has them at all."""
    try:
        key, hex_, _ = pattern_facts(str(pattern), options)
        return {"pattern_digest": hex_, "normalized_pattern": key}
    except RuleError:
        return {"pattern_digest": None, "normalized_pattern": None}
