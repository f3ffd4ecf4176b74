"""Digest normalization (spec §13): every example of the spec, then edge cases and the API."""

from __future__ import annotations

import hashlib

import pytest

from proxyd.digest import DEFAULT, Digest, DigestOptions, clear_cache, digest, literals


def text(sql: str, **opts) -> str:
    return digest(sql, DigestOptions(**opts)).text


# -- the spec's examples, verbatim -------------------------------------------------------------

SPEC_EXAMPLES = [
    # rule 1: comments
    ("SELECT /* keep_comment */ 1", {"keep_comment": True}, "SELECT /* keep_comment */ ?"),
    # rule 2: literals
    ("select 1.1E-9", {}, "select ?"),
    ("select 0x100", {}, "select ?"),
    ("SELECT N'string', _utf8'str'", {}, "SELECT N?,_utf8?"),
    # rule 3: whitespace
    ("SELECT\r\n\t1", {}, "SELECT ?"),
    # rule 4: compression
    ("select 1+ 1, 1 -1, 1 * 1 , 1/1 , 100 % 3", {}, "select ?+?,?-?,?*?,?/?,?%?"),
    ("SELECT 1,\n-4", {}, "SELECT ?,?"),
    ("INSERT INTO db.table  ( col1 )  VALUES ( 'val' )", {}, "INSERT INTO db.table (col1) VALUES (?)"),
    ("SELECT c FROM t WHERE id=1", {}, "SELECT c FROM t WHERE id=?"),
    ('SELECT * FROM t WHERE t = "foo"', {}, "SELECT * FROM t WHERE t = ?"),
    # rule 5: value lists
    ("SELECT * FROM t WHERE id IN (1,2,3,4)", {}, "SELECT * FROM t WHERE id IN (?,?,?,?)"),
    ("SELECT * FROM t WHERE id IN (1,2,3,4,5,6,7,8,9,10)", {}, "SELECT * FROM t WHERE id IN (?,?,?,...)"),
    ("INSERT INTO t VALUES ('val',1, 2,3,'foo', 5 + 10, 6 - 9)", {}, "INSERT INTO t VALUES (?,?,?,...,?+?,?-?)"),
    # rule 6: repeated groups
    ("INSERT INTO t VALUES ('a',1),('b',2)", {"groups_grouping_limit": 1}, "INSERT INTO t VALUES (?,?),..."),
    # rule 7: lowercase
    ("SELECT Name FROM T WHERE id = 1", {"lowercase": True}, "select name from t where id = ?"),
]


@pytest.mark.parametrize("sql,opts,expected", SPEC_EXAMPLES)
def test_spec_examples(sql, opts, expected):
    assert text(sql, **opts) == expected


def test_spec_digits_inside_identifiers():
    assert text("SELECT * FROM table_25 JOIN 1_value") == "SELECT * FROM table_25 JOIN 1_value"
    assert text("SELECT col1 FROM table_25", no_digits=True) == "SELECT col? FROM table_?"
    assert text("SELECT * FROM 1_value", no_digits=True) == "SELECT * FROM ?_value"


def test_spec_null_only_with_replace_null():
    assert text("SELECT NULL, nUlL") == "SELECT NULL,nUlL"
    assert text("SELECT NULL, nUlL", replace_null=True) == "SELECT ?,?"
    # NULL inside an identifier is no literal
    assert text("SELECT null_id, NULL8 FROM table_null", replace_null=True) == "SELECT null_id,NULL8 FROM table_null"


def test_spec_inner_semicolon_kept_trailing_removed():
    assert text("SELECT * FROM t FOR UPDATE; SELECT 1;") == "SELECT * FROM t FOR UPDATE; SELECT ?"
    assert text("  SELECT 1 ;; \n") == "SELECT ?"


def test_spec_hash_format():
    d = digest("SELECT 1")
    assert d.text == "SELECT ?"
    assert d.hex == "0x%016X" % d.hash and len(d.hex) == 18
    assert 0 <= d.hash < 2 ** 64
    # proxyd's hash: blake2b-64 of the UTF-8 text, read big-endian (stable across runs and versions)
    assert d.hash == int.from_bytes(hashlib.blake2b(b"SELECT ?", digest_size=8).digest(), "big")
    assert d.hex == "0xC148796E1220075A"
    assert digest("select 2").hash != d.hash


# -- rule 1: comments ----------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "select /* COMMENT */ 1", "select/* COMMENT */ 1", "select/* COMMENT */1", "/* COMMENT */select 1",
    "/* COMMENT */ select 1 ", "select 1/* COMMENT */  ", "select 1 /* COMMENT */ ",
    "# random_comment \n   select 1", "#random_comment\nselect 1", "-- random_comment \n select 1",
    "   --   random_comment\nselect 1", "# c\n select 1 #final_comment\n   ", "# c\n select 1# final   \n",
    "-- c\n select 1 -- final_comment\n   ", "-- c\n select 1-- final   \n", "select 1 -- no newline at the end",
    "select /* multi\n line\n comment */ 1", "select 1 /* unterminated", "select 1 -- ",
])
def test_comments_removed(sql):
    assert text(sql) == "select ?"


def test_comment_markers_inside_strings_are_strings():
    assert text("SELECT 'a -- b', '# c', '/* d */', \"e -- f\" FROM t") == "SELECT ?,?,?,? FROM t"
    assert literals("SELECT 'a -- b', '# c', '/* d */'") == ["a -- b", "# c", "/* d */"]


def test_double_dash_needs_a_space_to_be_a_comment():
    assert text("SELECT a--1 FROM t") == "SELECT a-? FROM t"  # a minus minus one
    assert literals("SELECT a--1 FROM t") == [-1]
    assert text("SELECT a-- 1\nFROM t") == "SELECT a FROM t"


def test_executable_comments_stay():
    assert text("/*!40101 SET NAMES utf8 */;") == "/*!40101 SET NAMES utf8 */"
    assert text("SELECT /*!40001 SQL_NO_CACHE */ * FROM t WHERE a = 1") == \
        "SELECT /*!40001 SQL_NO_CACHE */ * FROM t WHERE a = ?"
    assert digest("/*!40101 SET NAMES utf8 */").first_comment is None


def test_keep_comment_variants():
    for q in ("SELECT /* keep_comment */ +1", "SELECT /* keep_comment */ 1.123", "SELECT /* keep_comment */ 0x100",
              "SELECT /* keep_comment */ 1.1E-9", "SELECT   /* keep_comment */\n1"):
        assert text(q, keep_comment=True) == "SELECT /* keep_comment */ ?", q
    # multi-line comments become one line; -- and # comments go anyway
    assert text("SELECT /* a\n  b */ 1 -- c", keep_comment=True) == "SELECT /* a b */ ?"


def test_first_and_last_comment():
    d = digest("/* hostgroup=2 */ SELECT 1 /* mid */ + 2 /*  trail  */ ;")
    assert d.text == "SELECT ?+?"
    assert d.first_comment == "hostgroup=2"
    assert d.last_comment == "trail"
    d = digest("SELECT /* only */ 1")
    assert (d.first_comment, d.last_comment) == ("only", None)
    d = digest("SELECT 1 /* a */ /* b */ -- c")
    assert (d.first_comment, d.last_comment) == ("a", "b")
    d = digest("/* lead */ SELECT 1")
    assert (d.first_comment, d.last_comment) == ("lead", None)
    d = digest("SELECT 1")
    assert (d.first_comment, d.last_comment) == (None, None)
    d = digest("SELECT 1 /* t */", DigestOptions(keep_comment=True))
    assert (d.text, d.first_comment, d.last_comment) == ("SELECT ? /* t */", "t", "t")


# -- rule 2: literals ----------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "select 1.1", "select 99.1929", "select 1.1e9", "select 1.1e+9", "select 1.1e-9", "select 1.1E9",
    "select 1.1E+9", "select .5", "select 1.", "select 0x100", "select 0XFF", "select 0b101", "select X'0A'",
    "select ''''''''", "select '\\''", "select '\\\\'", "select '''\\\\''\\''''",
    'select """"""""', 'select "\\""', 'select "\\\\"', "select 'unterminated",
])
def test_literal_forms(sql):
    assert text(sql) in ("select ?", "select X?")


def test_string_prefixes_kept():
    assert text("SELECT N'a', _utf8mb4'b', X'0A', b'01', _latin1 'c'") == "SELECT N?,_utf8mb4?,X?,b?,_latin1 ?"
    assert literals("SELECT N'a', _utf8mb4'b', X'0A', b'01'") == ["a", "b", "0A", "01"]


def test_escapes_and_quotes_in_strings():
    sql = "select '', '\\'', 'foo''bar\\'', '\\\\str_\\'foo'''"
    assert text(sql) == "select ?,?,?,?"
    assert literals(sql) == ["", "'", "foo'bar'", "\\str_'foo'"]
    assert literals('SELECT "a""b", "c\\"d", \'x"y\'') == ['a"b', 'c"d', 'x"y']
    assert literals("SELECT 'a\\nb\\tc\\0\\Z\\%\\_\\q'") == ["a\nb\tc\0\x1a\\%\\_q"]


def test_backquoted_identifiers_untouched():
    sql = "SELECT `col 1`, `a``b`, `x'y` FROM `t-2` WHERE `c3` = 3"
    assert text(sql) == "SELECT `col 1`,`a``b`,`x'y` FROM `t-2` WHERE `c3` = ?"
    assert text(sql, no_digits=True) == "SELECT `col 1`,`a``b`,`x'y` FROM `t-2` WHERE `c3` = ?"
    assert text("SELECT `decimal(40, 20)` FROM t", lowercase=True) == "select `decimal(40, 20)` from t"


def test_numbers_glued_to_words_are_identifiers():
    assert text("SELECT 1e5x, 0xZZ, 2fa, t1.c2, db.1_t FROM t") == "SELECT 1e5x,0xZZ,2fa,t1.c2,db.1_t FROM t"
    assert text("SELECT 1e5, 0xFF") == "SELECT ?,?"


def test_placeholders_already_present():
    assert text("SELECT * FROM t WHERE a = ? AND b IN (?,?,?,?,?)") == \
        "SELECT * FROM t WHERE a = ? AND b IN (?,?,?,...)"
    assert literals("SELECT * FROM t WHERE a = ? AND b = 2") == [2]


# -- rule 4: compression, signs ------------------------------------------------------------------

@pytest.mark.parametrize("sql,expected", [
    ("select 1 +1", "select ?+?"), ("select 1- 1", "select ?-?"), ("select 1 *1", "select ?*?"),
    ("select 1 /1", "select ?/?"), ("select 1 %1", "select ?%?"),
    ("select  + 1", "select ?"), ("select  + 1, - 2", "select ?,?"), ('select -"1"', "select ?"),
    ("select +\"1\",'foo'", "select ?,?"), ("select (-'89')", "select (?)"), ("select 10,-'89'", "select ?,?"),
    ("select  10, -'89 ',+'5'", "select ?,?,?"), ("select CONCAT( -'89'+'10')", "select CONCAT(?+?)"),
    ("select CONCAT(  -'89'   +  '10' )", "select CONCAT(?+?)"), ("select CONCAT(- '89')", "select CONCAT(?)"),
    ("SELECT * FROM t t1, t t2 ,t t3,t t4 LIMIT 0", "SELECT * FROM t t1,t t2,t t3,t t4 LIMIT ?"),
    ("select * fromt t", "select * fromt t"),
])
def test_compression(sql, expected):
    assert text(sql) == expected


def test_minus_after_identifier_is_binary():
    assert text("SELECT a-1 FROM t") == text("SELECT a -1 FROM t") == text("SELECT a - 1 FROM t") == "SELECT a-? FROM t"
    assert literals("SELECT a -1 FROM t") == [1]
    assert text("SELECT a - -1, (a) -1, `b` -1, 2 - -3") == "SELECT a-?,(a)-?,`b`-?,?-?"
    assert literals("SELECT a - -1, 2 - -3") == [-1, 2, -3]


def test_unary_sign_after_keywords_and_operators():
    assert text("SELECT * FROM t WHERE x = -1 AND y > - 2.5 OR z IN (-1, +2) LIMIT 1") == \
        "SELECT * FROM t WHERE x = ? AND y > ? OR z IN (?,?) LIMIT ?"
    assert literals("SELECT -1, -1.5, -0x10, - 'a', +3") == [-1, -1.5, -16, "-a", 3]
    assert text("SELECT CASE WHEN a THEN -1 ELSE +2 END") == "SELECT CASE WHEN a THEN ? ELSE ? END"


def test_signs_before_non_literals_stay():
    assert text("SELECT - a, -b, f(- c), -(1)") == "SELECT -a,-b,f(-c),-(?)"


def test_star_wildcard_vs_times():
    assert text("SELECT * FROM t") == "SELECT * FROM t"
    assert text("SELECT t.*, COUNT(*) * 2, a * b, DISTINCT * FROM t") == "SELECT t.*,COUNT(*)*?,a*b,DISTINCT * FROM t"


def test_comparison_spacing_as_written():
    assert text("SELECT a=1, b = 2, c  <=  3, d<>4, e != 5, f<=>NULL") == "SELECT a=?,b = ?,c <= ?,d<>?,e != ?,f<=>NULL"


def test_json_operators_not_arithmetic():
    assert text("SELECT j->'$.a', j ->> '$.b' FROM t") == "SELECT j->?,j ->> ? FROM t"


def test_parentheses_and_commas():
    assert text("INSERT INTO db.table( col1) VALUES ( 'val' )") == "INSERT INTO db.table(col1) VALUES (?)"
    assert text("INSERT INTO db.table ( col1, col2,col3,col4 ) VALUES ('val',2,3,'foo')") == \
        "INSERT INTO db.table (col1,col2,col3,col4) VALUES (?,?,?,?)"
    assert text("INSERT INTO db.table1_25 ( col_121,col2121  ,col12_3, col41203_   ) VALUES ( 'val', -2, 3, 'foo' )",
                no_digits=True) == "INSERT INTO db.table?_? (col_?,col?,col?_?,col?_) VALUES (?,?,?,?)"


# -- rules 5 and 6: grouping ---------------------------------------------------------------------

def test_value_runs():
    assert text("SELECT * FROM t WHERE id IN (NULL  ,2,3, 'NULL' ,5,NulL,null,NULL8,9,10)", replace_null=True) == \
        "SELECT * FROM t WHERE id IN (?,?,?,...,NULL8,?,?)"
    assert text("SELECT * tablename where id IN (1,2,3,4,5,6,7,8,  AND j in (1,2,3,4,5,6  and k=1") == \
        "SELECT * tablename where id IN (?,?,?,...,AND j in (?,?,?,...,? and k=?"
    assert text("INSERT INTO t VALUES ('val',1, 2,3,'foo', 5 + 10, 6 - 9, 12, 3, 4, 5, 4,5,6)") == \
        "INSERT INTO t VALUES (?,?,?,...,?+?,?-?,?,?,?,...)"
    assert text("INSERT INTO t VALUES ('val',2,3,'foo', 5 + 10, 6 - 9)") == "INSERT INTO t VALUES (?,?,?,?,?+?,?-?)"
    assert text("SELECT f(1,2,3,4,5), (a,1,2,3,4,5)") == "SELECT f(?,?,?,...),(a,?,?,?,...)"
    # outside parentheses a select list is no value list
    assert text("SELECT 1,2,3,4,5,6") == "SELECT ?,?,?,?,?,?"


def test_grouping_limits():
    q = "INSERT INTO t (a,b,c) VALUES (1.23234, 9.923, 8)"
    assert text(q, grouping_limit=1) == "INSERT INTO t (a,b,c) VALUES (?,...)"
    assert text(q, grouping_limit=0) == "INSERT INTO t (a,b,c) VALUES (?,?,?)"
    q = "INSERT INTO t VALUES (-19, +29,- 29,+ 10,- 20,+ 40,- 34,- 30,+ 40, + 11, - 23,- 40, + 60)"
    assert text(q, grouping_limit=11) == "INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?,...)"
    assert text("SELECT * FROM t WHERE a IN (1,2)", grouping_limit=0) == "SELECT * FROM t WHERE a IN (?,?)"


def test_repeated_groups():
    q = "INSERT INTO t (a,b,c,d,e) VALUES ('val',1, 2,3,'foo'), ('val2', 2,3,4,'foo2')"
    assert text(q) == "INSERT INTO t (a,b,c,d,e) VALUES (?,?,?,...),(?,?,?,...)"
    assert text(q, groups_grouping_limit=1) == "INSERT INTO t (a,b,c,d,e) VALUES (?,?,?,...),..."
    q = "INSERT INTO t (a,b,c) VALUES (1,2,3),(3,5,6),(7,8,9) ON DUPLICATE KEY UPDATE a = VALUES(b)"
    assert text(q, grouping_limit=1, groups_grouping_limit=1) == \
        "INSERT INTO t (a,b,c) VALUES (?,...),... ON DUPLICATE KEY UPDATE a = VALUES(b)"
    rows = ",".join(f"({i}, 'x{i}')" for i in range(25))
    assert text(f"INSERT INTO t VALUES {rows}") == "INSERT INTO t VALUES " + ",".join(["(?,?)"] * 10) + ",..."
    assert text(f"INSERT INTO t VALUES {rows}", groups_grouping_limit=0) == \
        "INSERT INTO t VALUES " + ",".join(["(?,?)"] * 25)
    # a group with a non-literal ends the row run
    assert text("INSERT INTO t VALUES (1,2),(3,2+1),(5,6),(7,8)", groups_grouping_limit=1) == \
        "INSERT INTO t VALUES (?,?),(?,?+?),(?,?),..."
    # NULL is a literal only with replace_null
    q = "INSERT INTO t VALUES (1,NULL),(2,NULL),(3,NULL)"
    assert text(q, groups_grouping_limit=1) == "INSERT INTO t VALUES (?,NULL),(?,NULL),(?,NULL)"
    assert text(q, groups_grouping_limit=1, replace_null=True) == "INSERT INTO t VALUES (?,?),..."


def test_row_shortcut_matches_token_path():
    # the one-token shortcut for literal rows must agree with the piece-by-piece path
    for q in ["INSERT INTO t VALUES ( 1 , 'a,b' , -2 ),( +3,'c)d',\"e'\" ), (4, 0x1F, 1e-3)",
              "SELECT * FROM t WHERE a IN ('x', 'y', 'z', 'w', 'v')", "SELECT (1), (- 2), ('a' )"]:
        for o in (DEFAULT, DigestOptions(grouping_limit=1, groups_grouping_limit=1), DigestOptions(grouping_limit=0)):
            split = q.replace("(", "( /**/ ")  # a comment defeats the shortcut, not the digest
            assert digest(q, o).text == digest(split, o).text, (q, o)


# -- caps, lowercase, unicode --------------------------------------------------------------------

def test_max_digest_length_in_bytes():
    q = "SELECT " + ", ".join(f"col{i}" for i in range(1000)) + " FROM t"
    assert len(text(q)) == 2048
    assert text(q, max_digest_length=20) == "SELECT col0,col1,col"
    assert text("SELECT '😀', 😀😀😀 FROM t", max_digest_length=14) == "SELECT ?,😀"  # 13 bytes, not 14
    assert len(text("SELECT 1 " + "x" * 5000)) == 2048


def test_max_query_length_cuts_input():
    q = "SELECT a FROM t WHERE b = 'abcdef' AND c = 1"
    assert text(q, max_query_length=30) == "SELECT a FROM t WHERE b = ?"  # cut inside the string
    assert text(q, max_query_length=20) == "SELECT a FROM t WHER"


def test_very_long_query():
    rows = ",".join(f"({i},'name{i}',{i}.5)" for i in range(20000))
    head = "INSERT INTO t (a,b,c) VALUES " + ",".join(["(?,?,?)"] * 10) + ",..."
    assert text(f"INSERT INTO t (a,b,c) VALUES {rows}", max_query_length=10 ** 7) == head
    # cut at 65000 bytes: the rows up to there, then the start of the one that was cut
    assert text(f"INSERT INTO t (a,b,c) VALUES {rows}").startswith(head + ",(")
    big_in = "SELECT * FROM t WHERE id IN (" + ",".join(map(str, range(50000))) + ")"
    assert text(big_in, max_query_length=10 ** 7) == "SELECT * FROM t WHERE id IN (?,?,?,...)"


def test_unicode():
    assert text("SELECT '😀 emoji', `tbl😀`, ĉolumn FROM t WHERE x = '日本語'") == \
        "SELECT ?,`tbl😀`,ĉolumn FROM t WHERE x = ?"
    assert literals("SELECT '😀 emoji'") == ["😀 emoji"]
    assert text("SELECT 'A', Ärger FROM T", lowercase=True) == "select ?,ärger from t"


def test_empty_and_blank():
    assert text("") == ""
    assert text("  \n ; ") == ""
    assert text("/* just a comment */").strip() == ""


# -- literals() ----------------------------------------------------------------------------------

def test_literals_in_order():
    sql = "INSERT INTO t VALUES (1, -2, 3.5, 1e3, 0x10, 'it''s', \"q\", NULL) /* 9 */"
    assert literals(sql) == [1, -2, 3.5, 1000.0, 16, "it's", "q"]
    assert literals(sql, DigestOptions(replace_null=True)) == [1, -2, 3.5, 1000.0, 16, "it's", "q", None]
    # one value per ? before grouping
    assert literals("SELECT * FROM t WHERE id IN (1,2,3,4,5,6)") == [1, 2, 3, 4, 5, 6]
    # nothing from identifiers, comments, backquotes
    assert literals("SELECT c1 FROM `t2` WHERE x_3 = 4 -- 5") == [4]


def test_literal_count_matches_placeholders():
    for q in ["SELECT a-1, a - -1, -b, 'x' FROM t WHERE y IN (1, +2, - 3)", "select 1+ 1, 1 -1, 1 * 1 , 1/1 , 100 % 3",
              "SELECT N'a', X'0A', 1.5e-3, .5", "SELECT -'89', CONCAT(- '89')"]:
        t = digest(q, DigestOptions(grouping_limit=0)).text
        assert t.count("?") == len(literals(q)), q


# -- API -----------------------------------------------------------------------------------------

def test_digest_is_frozen_dataclass_and_cached():
    clear_cache()
    a = digest("SELECT 1")
    assert isinstance(a, Digest)
    with pytest.raises(AttributeError):
        a.text = "x"  # type: ignore[misc]
    assert digest("SELECT 1") is a  # cached
    assert digest("SELECT 1", DigestOptions(lowercase=True)).text == "select ?"  # other options: recomputed
    assert digest("SELECT 1").text == "SELECT ?"
    assert digest("SELECT 1", DigestOptions()) == a  # equal options share the cache
    assert digest("SELECT 2").text == digest("SELECT 3").text


def test_options_defaults():
    assert DEFAULT == DigestOptions(False, False, False, False, 3, 10, 2048, 65000)


@pytest.mark.parametrize("sql,opts,expected", SPEC_EXAMPLES)
def test_digest_of_a_digest_is_itself(sql, opts, expected):
    o = DigestOptions(**opts)
    assert digest(expected, o).text == expected


def test_reserved_values_are_operands():
    assert text("SELECT TRUE - 1, CURRENT_DATE - 1, status - 1, x END - 1") == \
        "SELECT TRUE-?,CURRENT_DATE-?,status-?,x END-?"
    assert text("SELECT NOW() - INTERVAL -1 DAY, a DIV -2, b MOD -3") == "SELECT NOW()-INTERVAL ? DAY,a DIV ?,b MOD ?"


# -- the literal-shape cache -------------------------------------------------------------------------
SHAPE_CASES = [
    "SELECT c FROM sbtest1 WHERE id=5031",
    "SELECT c FROM sbtest12 WHERE id BETWEEN 10 AND 109 ORDER BY c",
    "UPDATE sbtest1 SET k=k+1 WHERE id=42",
    "INSERT INTO t (a, b) VALUES (1, 'it''s'), (2, 'x'), (3, 'y'), (4, 'z')",
    "SELECT 1.5e3, -7, 0x1F, 1abc, t2.c3 FROM d1.t2 WHERE s = 'abc' LIMIT 10, 20",
    "SELECT * FROM t WHERE a IN (1, 2, 3, 4, 5, 6) AND b = N'x'",
]


@pytest.mark.parametrize("sql", SHAPE_CASES)
def test_shape_cache_gives_the_digest_a_fresh_computation_gives(sql):
    """Statements that differ only in literal values share a cached digest: it must be theirs."""
    import random
    import re

    from proxyd import digest as digest_module

    rnd = random.Random(sql)

    def other_value(m: re.Match) -> str:
        return "'" + "v" * rnd.randint(0, 4) + "'" if m.group().startswith("'") else str(rnd.randint(0, 10**6))

    clear_cache()
    first = digest(sql)
    for _ in range(5):
        variant = digest_module._MASK.sub(other_value, sql)
        cached = digest(variant)
        assert cached.text == digest_module._compute(variant, DEFAULT).text == first.text


@pytest.mark.parametrize("a,b", [
    ("SELECT `col 1` FROM t", "SELECT `col 2` FROM t"),  # digits inside backquotes are names
    ("SELECT a FROM t /* 1 */", "SELECT a FROM t /* 2 */"),  # comments are not masked
    ('SELECT "1" FROM t1', 'SELECT "2" FROM t2'),
    ("SELECT a FROM sbtest1", "SELECT a FROM sbtest2"),  # digits glued to a name
])
def test_shape_cache_never_merges_statements_that_differ_beyond_literals(a, b):
    clear_cache()
    digest(a)
    assert digest(b).first_comment == digest_module_compute(b).first_comment
    assert digest(b).text == digest_module_compute(b).text


def digest_module_compute(sql: str) -> Digest:
    from proxyd import digest as digest_module

    return digest_module._compute(sql, DEFAULT)
