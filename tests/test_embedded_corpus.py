"""Runs tests/embedded_corpus.sql against the embedded backend (format: see the file's header)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxyd.backends.embedded import EmbeddedEngine
from proxyd.errors import ProxydError
from proxyd.results import Ok, ResultSet

CORPUS = Path(__file__).with_name("embedded_corpus.sql")
_EXPECT = re.compile(r"--\s+(ok|rows|columns|error|params)\b\s*(.*)$")


@dataclass
class Case:
    line: int
    sql: str
    expect: dict[str, str] = field(default_factory=dict)


def load(path: Path = CORPUS) -> list[Case]:
    cases: list[Case] = []
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.rstrip()
        m = _EXPECT.match(line)
        if m is not None and not buf:
            assert cases, f"line {n}: an expectation before any statement"
            cases[-1].expect[m.group(1)] = m.group(2)
            continue
        if not buf and (not line or line.startswith("--")):
            continue
        if not buf:
            start = n
        buf.append(raw)
        if line.endswith(";"):
            cases.append(Case(start, "\n".join(buf).rstrip()[:-1]))
            buf = []
    assert not buf, "unterminated statement at the end of the corpus"
    return cases


def _norm(rows: Any) -> list[list[Any]]:
    return [[v.decode() if isinstance(v, bytes) else v for v in row] for row in rows]


def check(case: Case, result: Ok | ResultSet | None, error: ProxydError | None) -> list[str]:
    """What differs from the expectations (empty when the case passes)."""
    where = f"line {case.line}: {case.sql.splitlines()[0][:70]}"
    e = case.expect
    if "error" in e:
        code, *state = e["error"].split()
        if error is None:
            return [f"{where}: expected error {code}, got {result}"]
        problems = []
        if error.code != int(code):
            problems.append(f"{where}: expected error {code}, got {error.code} {error}")
        if state and error.sqlstate != state[0]:
            problems.append(f"{where}: expected SQLSTATE {state[0]}, got {error.sqlstate}")
        return problems
    if error is not None:
        return [f"{where}: unexpected error {error.code} {error}"]
    problems = []
    if "ok" in e:
        if not isinstance(result, Ok):
            return [f"{where}: expected an OK packet, got {result}"]
        m = re.fullmatch(r"(\d+)(?:\s+id\s+(\d+))?(?:\s+warnings\s+(\[.*\]))?", e["ok"].strip())
        assert m is not None, f"{where}: bad 'ok' expectation {e['ok']!r}"
        if result.affected_rows != int(m.group(1)):
            problems.append(f"{where}: affected rows {result.affected_rows}, expected {m.group(1)}")
        if m.group(2) is not None and result.last_insert_id != int(m.group(2)):
            problems.append(f"{where}: last insert id {result.last_insert_id}, expected {m.group(2)}")
        want_w = json.loads(m.group(3)) if m.group(3) else []
        got_w = [w.code for w in result.warnings]
        if got_w != want_w:
            problems.append(f"{where}: warnings {got_w}, expected {want_w}")
    if "rows" in e or "columns" in e:
        if not isinstance(result, ResultSet):
            return [f"{where}: expected a result set, got {result}"]
        if "columns" in e and list(result.columns) != json.loads(e["columns"]):
            problems.append(f"{where}: columns {list(result.columns)}, expected {e['columns']}")
        if "rows" in e and _norm(result.rows) != json.loads(e["rows"]):
            problems.append(f"{where}: rows {_norm(result.rows)}, expected {e['rows']}")
        if result.types is None or len(result.types) != len(result.columns):
            problems.append(f"{where}: types {result.types} do not match the columns")
    return problems


async def run_corpus(datadir: str, cases: list[Case]) -> list[str]:
    engine = EmbeddedEngine(datadir)
    session = engine.session()
    problems: list[str] = []
    try:
        for case in cases:
            params = json.loads(case.expect["params"]) if "params" in case.expect else None
            result = error = None
            try:
                result = await session.execute(case.sql, params)
            except ProxydError as exc:
                error = exc
            problems += check(case, result, error)
    finally:
        session.close()
        engine.close()
    return problems


def test_corpus_is_big_enough():
    cases = load()
    assert len(cases) >= 60
    assert all(c.expect for c in cases), [c.line for c in cases if not c.expect]


def test_corpus(tmp_path):
    problems = asyncio.run(run_corpus(str(tmp_path), load()))
    assert not problems, "\n".join(problems)
