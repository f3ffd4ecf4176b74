"""proxyd/_native_digest.c: the C form of the digest cache's literal mask must equal the regex.

proxyd.digest keys its cache by the statement's shape (literals as '?'); two different shapes for
one text would split or, worse, merge digests. So the C function is checked against the regex it
replaces, on generated text full of the characters where the regex backtracks, and on statements.
"""

from __future__ import annotations

import random

import pytest

from proxyd.digest import _MASK

native = pytest.importorskip("proxyd._native_digest", reason="the optional C extension is not built")

STATEMENTS = [
    "SELECT c FROM sbtest1 WHERE id=5034",
    "SELECT * FROM t WHERE a IN (1, 2.5, 3e10, -4, +5.0E-3) AND b = 'it''s' AND c='' LIMIT 10, 20",
    "INSERT INTO t1 VALUES (1,'a'),(2,'b''c'),(3, 'unterminated",
    "UPDATE t SET v = v + 1.5 WHERE id BETWEEN 10 AND 20 AND name LIKE '%x%'",
    "SELECT 1.e5, 1.5.6, 0x1F, 1e, $1, a.1, 1a, t1.c2, 12.34ab, 'x''''y', ''''",
    "SELECT col$1, 9$, _9, 9_, 'a' 'b', '''', ''', 'x''",
    "",
    "'",
    "''",
    "1",
]


def test_statements_mask_as_the_regex_does():
    for sql in STATEMENTS:
        assert native.mask_literals(sql) == _MASK.sub("?", sql), sql


def test_generated_text_masks_as_the_regex_does():
    rng = random.Random(20261122)
    alphabet = "'0123456789.eE+-$_ xa(,"
    for _ in range(50_000):
        sql = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert native.mask_literals(sql) == _MASK.sub("?", sql), repr(sql)


def test_non_ascii_text_is_left_to_the_regex():
    assert native.mask_literals("SELECT 'héllo', 1") is None
    with pytest.raises(TypeError):
        native.mask_literals(b"SELECT 1")
