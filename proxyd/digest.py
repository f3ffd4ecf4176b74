"""Query digests: the normalized ``digest_text`` of a statement, its 64-bit hash, and its literals.

Implements the seven rules of spec §13 (comments, literals, whitespace, compression, value lists,
repeated groups, lowercase) plus the two length caps. The work is one pass of a single compiled
regex over the statement, emitting output pieces as it goes, then at most two passes over the piece
list for the grouping rules (skipped when the statement has too few ``?`` / ``(`` for them to apply).
No SQL parser is involved. Runs of words and whole rows of literals are single tokens, which keeps the
per-token Python work small. Digests of statements up to 512 characters are cached (see ``digest``).

Choices made where the spec leaves room (and where proxyd differs from ProxySQL's state machine):

* Backquoted identifiers are copied verbatim: no literal or digit replacement inside them.
* ``keep_comment`` keeps ``/* */`` comments only; ``--`` and ``#`` comments are always removed (kept,
  they would comment out the rest of the one-line digest). ``/*! */`` is always kept, ``/*+ */``
  optimizer hints are ordinary comments.
* A string whose quote directly follows a word keeps that word as a prefix: ``N'a'`` → ``N?``,
  ``_utf8mb4'a'`` → ``_utf8mb4?``, ``X'0A'`` → ``X?``, ``b'01'`` → ``b?``.
* ``+ - * / %`` are compressed whenever they act as binary operators, i.e. after an operand
  (identifier, literal, ``)``), not only around ``?``; ``*`` elsewhere is the wildcard and keeps its
  spacing. A ``+``/``-`` anywhere else (after ``(``, ``,``, an operator or a reserved word) is a
  unary sign: dropped before a literal, glued to anything else (``SELECT - a`` → ``SELECT -a``).
* Value-list runs (rule 5) are only looked for inside parentheses, as in ProxySQL (``SELECT 1,2,3,4,5``
  keeps its five ``?``). Repeated groups (rule 6) are any parenthesized groups made only of ``?`` items
  (optionally ending in ``...``), including uncollapsed ones such as ``(?,?)``, as in the spec's example.
* Length caps count UTF-8 bytes and never split a character.
* A digest text is its own digest (``...`` is read back as the grouping marker).
* The hash is blake2b-64 of the UTF-8 text, not ProxySQL's SpookyHash: values differ from ProxySQL's.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

__all__ = ["DigestOptions", "Digest", "DEFAULT", "digest", "literals", "clear_cache"]


@dataclass(frozen=True, slots=True)
class DigestOptions:
    """The ``mysql-query_digests_*`` knobs (ProxySQL names without the prefix)."""

    lowercase: bool = False
    no_digits: bool = False
    replace_null: bool = False
    keep_comment: bool = False
    grouping_limit: int = 3
    groups_grouping_limit: int = 10
    max_digest_length: int = 2048
    max_query_length: int = 65000


@dataclass(frozen=True, slots=True)
class Digest:
    """A statement's digest; equal texts have equal hashes."""

    text: str  # digest_text
    hash: int  # 64-bit unsigned hash of text
    hex: str  # '0x' + 16 upper-case hex digits
    first_comment: str | None  # inner text (stripped) of the first /* */ comment
    last_comment: str | None  # inner text (stripped) of the last /* */ comment after the statement


DEFAULT = DigestOptions()

# --------------------------------------------------------------------------------------------------
# Tokenizer

# Identifier characters (0-9 A-Z a-z _ $ and any non-ASCII character, as MySQL allows), and those that
# cannot start a number. Written as the complement of the other ASCII characters: the same set as
# [0-9A-Za-z_$\u0080-\U0010ffff], but a pattern using it compiles in microseconds instead of
# milliseconds (sre expands an explicit range that large into a big charset).
_WC = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"
_LEAD = r"[^\x00-\x23\x25-\x40\x5b-\x5e\x60\x7b-\x7f]"
_SP = " \t\r\n\f\v"
_NUMBER = (rf"(?:0[xX][0-9a-fA-F]+|0[bB][01]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
           rf"(?!{_WC})")
_STRING = (r"""'[^'\\]*(?:(?:\\[\s\S]?|'')[^'\\]*)*(?:'|\Z)"""
           r"""|"[^"\\]*(?:(?:\\[\s\S]?|"")[^"\\]*)*(?:"|\Z)""")
_NULL = rf"(?i:null)(?!{_WC})"

# Token kinds: the number of the regex group each alternative captures.
_T_ROW, _T_WORDS, _T_SPACE, _T_PUNCT, _T_NUMBER, _T_STRING, _T_COMMENT, _T_LINE_COMMENT, _T_ARITH, \
    _T_QUOTED_ID, _T_NULL, _T_DIGIT_ID, _T_OTHER = range(1, 14)


def _master(replace_null: bool, rows: bool) -> re.Pattern[str]:
    """The tokenizer regex. With ``replace_null`` NULL is kept out of word runs so that it becomes a
    token of its own. With ``rows`` a parenthesized list of plain literals (``(1,'a',-2.5)``, the bulk
    of a multi-row INSERT), with the comma before it if any, is one token: its digest is known
    without looking at each item."""
    # A run of words separated by single spaces ("SELECT c FROM sbtest1 WHERE id") is one token: most
    # statements are mostly such runs, and fewer matches is what makes the tokenizer fast. Words may
    # be qualified (db.t.c; a part after a dot may start with a digit, as in MySQL). A digit-led word
    # cannot continue a run, as it may be a number.
    not_null = rf"(?!{_NULL})" if replace_null else ""
    word = rf"{not_null}{_LEAD}{_WC}*(?:\.{_WC}+)*"
    item = rf"[{_SP}]*(?:[-+][{_SP}]*)?(?:{_NUMBER}|{_STRING}|\?{'|' + _NULL if replace_null else ''})[{_SP}]*"
    row = rf"(?:,[{_SP}]*)?\((?:{item},)*{item}\)" if rows else r"(?!)"
    return re.compile(
        rf"""
        ({row})                                                     # row of literals
      | ({word}(?:\ {word})*)                                       # word run
      | ([{_SP}]+)                                                  # whitespace
      | ([(),])                                                     # structure
      | ({_NUMBER})                                                 # number
      | ({_STRING})                                                 # string
      | (/\*[^*]*(?:\*+[^*/][^*]*)*(?:\*+/|\**\Z))                  # /* */ or /*! */ comment
      | ((?:--(?=[{_SP}]|\Z)|\#)[^\n]*)                             # -- or # comment
      | (-(?!>)|[+*/%])                                             # arithmetic (not ->)
      | (`[^`]*(?:``[^`]*)*(?:`|\Z))                                # backquoted identifier
      | ({_NULL})                                                   # NULL
      | ([0-9]{_WC}*(?:\.{_WC}+)*)                              # identifier starting with a digit
      | (\.\.\.|->>?|<=>|<=|>=|<>|!=|:=|\|\||&&|<<|>>|[\s\S])      # "...", other operator or character
        """,
        re.VERBOSE,
    )


# [replace_null][rows]; the row shortcut is off when literal values are wanted. Compiled on first use:
# the four patterns take ~0.3 s to compile, which would otherwise be paid by every daemon start-up.
_MASTERS: list[list[re.Pattern[str] | None]] = [[None, None], [None, None]]


def _master_for(replace_null: bool, rows: bool) -> re.Pattern[str]:
    m = _MASTERS[replace_null][rows]
    if m is None:
        m = _MASTERS[replace_null][rows] = _master(replace_null, rows)
    return m
_ROW_STRINGS = re.compile(_STRING)

_DIGITS = re.compile(r"[0-9]+")
_WS_RUN = re.compile(rf"[{_SP}]+")
_CLOSED = {q: re.compile(rf"{q}[^{q}\\]*(?:(?:\\[\s\S]|{q}{q})[^{q}\\]*)*{q}") for q in "'\""}
_UNESCAPE = {q: re.compile(rf"\\([\s\S])|{q}{q}") for q in "'\""}
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "%": "\\%", "_": "\\_"}

# MySQL reserved words: a +/- after one of these is a unary sign, and a * after one is the wildcard.
# Non-reserved keywords (STATUS, DATE, END...) can be column names and reserved words that are values
# (TRUE, FALSE, CURRENT_DATE...) are operands, so neither is listed.
_KEYWORDS = frozenset("""
ACCESSIBLE ADD ALL ALTER ANALYZE AND ANY AS ASC ASENSITIVE BEFORE BETWEEN BIGINT BINARY BLOB BOTH BY
CALL CASCADE CASE CHANGE CHAR CHARACTER CHECK COLLATE COLUMN CONDITION CONSTRAINT CONTINUE CONVERT
CREATE CROSS CUBE CURSOR DATABASE DATABASES DAY_HOUR DAY_MICROSECOND DAY_MINUTE DAY_SECOND DECIMAL
DECLARE DEFAULT DELAYED DELETE DESC DESCRIBE DETERMINISTIC DISTINCT DISTINCTROW DIV DO DOUBLE DROP
DUAL EACH ELSE ELSEIF EMPTY ENCLOSED ESCAPED EXCEPT EXISTS EXIT EXPLAIN FETCH FLOAT FOR FORCE
FOREIGN FROM FULLTEXT GENERATED GET GRANT GROUP GROUPS HAVING HIGH_PRIORITY HOUR_MICROSECOND
HOUR_MINUTE HOUR_SECOND IF IGNORE IN INDEX INFILE INNER INOUT INSENSITIVE INSERT INT INTEGER INTERSECT
INTERVAL INTO IS ITERATE JOIN KEY KEYS KILL LATERAL LEADING LEAVE LEFT LIKE LIMIT LINEAR LINES LOAD
LOCK LONG LOOP LOW_PRIORITY MATCH MAXVALUE MEDIUMINT MINUTE_MICROSECOND MINUTE_SECOND MOD MODIFIES
NATURAL NOT NO_WRITE_TO_BINLOG NUMERIC OF OFFSET ON OPTIMIZE OPTION OPTIONALLY OR ORDER OUT OUTER
OUTFILE OVER PARTITION PRECISION PRIMARY PROCEDURE PURGE RANGE READ READS REAL RECURSIVE REFERENCES
REGEXP RELEASE RENAME REPEAT REPLACE REQUIRE RESIGNAL RESTRICT RETURN REVOKE RIGHT RLIKE ROW ROWS
SCHEMA SCHEMAS SECOND_MICROSECOND SELECT SENSITIVE SEPARATOR SET SHOW SIGNAL SMALLINT SOME SPATIAL
SPECIFIC SQL SQL_BIG_RESULT SQL_CALC_FOUND_ROWS SQL_SMALL_RESULT STARTING STRAIGHT_JOIN TABLE
TERMINATED THEN TINYINT TO TRAILING TRIGGER UNDO UNION UNIQUE UNLOCK UNSIGNED UPDATE USAGE USE
USING VALUES VARBINARY VARCHAR VARYING WHEN WHERE WHILE WINDOW WITH WRITE XOR YEAR_MONTH ZEROFILL
""".split())

# --------------------------------------------------------------------------------------------------
# Core scan


def _scan(sql: str, o: DigestOptions, vals: list | None
          ) -> tuple[list[str], int, str | None, str | None]:
    """Tokenize ``sql`` into output pieces (rules 1-4). Placeholders, ``(``, ``)`` and ``,`` are pieces
    of their own so that the grouping passes can compare pieces with ``==``; a kept space is a ``' '``
    piece; a group of literals read as one token is one "row piece" such as ``(?,?,?,...)``, already
    grouped by rule 5. Appends literal values to ``vals`` when it is a list. Returns the pieces, the
    number of row pieces, and the first and trailing comments."""
    out: list[str] = []
    app = out.append
    keep_comment = o.keep_comment
    no_digits = o.no_digits
    replace_null = o.replace_null
    nospace = True  # no space may follow the last piece: "(", ",", a binary operator, or nothing yet
    # What the last significant token was, to tell unary from binary +/- and wildcard from times:
    # 0 = start of an expression (unary), 1 = an operand (binary), 2 = the word run in `run`, whose
    # last word decides (resolved lazily: only a following + - * needs it).
    pk = 0
    run = ""
    sign = ""  # a pending unary sign, dropped if a literal follows
    first_c: str | None = None
    last_c: tuple[str, int] | None = None  # inner text, number of pieces before it
    rows = 0  # row pieces emitted

    for m in _master_for(replace_null, vals is None).finditer(sql):
        k = m.lastindex
        if k == _T_WORDS:
            t = m.group(k)
            if sign:
                app(sign)
                sign = ""
            app(_DIGITS.sub("?", t) if no_digits else t)
            nospace = False
            pk = 2
            run = t
        elif k == _T_SPACE:  # one space, unless a sign is pending or no space may follow
            if not nospace and not sign and out[-1] != " ":
                app(" ")
        elif k == _T_PUNCT:
            t = m.group(k)
            if sign:
                app(sign)
                sign = ""
            if t == "(":
                app("(")
                nospace = True
                pk = 0
            else:  # ")" or ","
                if out and out[-1] == " ":
                    out.pop()
                app(t)
                if t == ",":
                    nospace = True
                    pk = 0
                else:
                    nospace = False
                    pk = 1
        elif k == _T_NUMBER or k == _T_STRING:
            if vals is not None:
                t = m.group(k)
                v = _number(t) if k == _T_NUMBER else _string(t)
                if sign == "-":
                    v = -v if k == _T_NUMBER else "-" + v
                vals.append(v)
            sign = ""
            app("?")
            nospace = False
            pk = 1
        elif k == _T_ROW:
            # [","] "(" literal, ... ")": one piece holding what rule 5 makes of the group, which
            # keeps the piece list (and the grouping passes' work) short for multi-row INSERTs.
            t = m.group(k)
            if sign:
                app(sign)
                sign = ""
            if t[0] == ",":
                if out and out[-1] == " ":
                    out.pop()
                app(",")
                t = t[t.index("("):]
            if "'" in t or '"' in t:
                t = _ROW_STRINGS.sub("", t)  # commas inside strings are no separators
            n = t.count(",") + 1
            gl = o.grouping_limit
            app("(" + "?," * gl + "...)" if 0 < gl <= n - 2 else "(" + "?," * (n - 1) + "?)")
            rows += 1
            nospace = False
            pk = 1
        elif k == _T_ARITH:
            t = m.group(k)
            if pk == 2:
                pk = 0 if run[run.rfind(" ") + 1:].upper() in _KEYWORDS else 1
            if pk == 1 or t == "/" or t == "%":  # binary: no space on either side
                if sign:  # "a - + /" and such: not SQL, keep the text
                    app(sign)
                    sign = ""
                if out and out[-1] == " ":
                    out.pop()
                app(t)
                nospace = True
                pk = 0
            elif t == "*":  # the wildcard: written spacing
                if sign:
                    app(sign)
                    sign = ""
                app("*")
                nospace = False
                pk = 1
            else:  # unary sign: held until we know whether a literal follows
                if sign:
                    app(sign)
                    nospace = True
                sign = t
        elif k == _T_COMMENT:
            t = m.group(k)
            if t.startswith("/*!"):  # executable comment: part of the statement
                if sign:
                    app(sign)
                    sign = ""
                app(_WS_RUN.sub(" ", t))
                nospace = False
                pk = 0
                continue
            inner = (t[2:-2] if len(t) >= 4 and t.endswith("*/") else t[2:]).strip()
            if first_c is None:
                first_c = inner
            last_c = (inner, len(out))
            if keep_comment:
                if sign:
                    app(sign)
                    sign = ""
                app(_WS_RUN.sub(" ", t))
                nospace = False
            elif not nospace and not sign and out[-1] != " ":
                app(" ")  # a removed comment still separates tokens
        elif k == _T_LINE_COMMENT:  # acts as whitespace
            if not nospace and not sign and out[-1] != " ":
                app(" ")
        elif k == _T_QUOTED_ID:  # untouched
            if sign:
                app(sign)
                sign = ""
            app(m.group(k))
            nospace = False
            pk = 1
        elif k == _T_NULL:  # only reached with replace_null
            if vals is not None:
                vals.append(None)
            sign = ""
            app("?")
            nospace = False
            pk = 1
        elif k == _T_DIGIT_ID:  # 1_value, 2fa
            if sign:
                app(sign)
                sign = ""
            t = m.group(k)
            app(_DIGITS.sub("?", t) if no_digits else t)
            nospace = False
            pk = 1
        else:  # comparison and other operators, ";", ".", "@", "?", anything else: written spacing
            t = m.group(k)
            if t == "?":  # already a placeholder: a literal without a value
                sign = ""
                app("?")
                nospace = False
                pk = 1
                continue
            if sign:
                app(sign)
                sign = ""
            app(t)
            nospace = False
            pk = 0
    if sign:
        app(sign)

    last: str | None = None
    if last_c is not None:
        inner, at = last_c
        # Trailing if something significant came before it and only spaces and ";" (and, with
        # keep_comment, the comment itself) come after it.
        rest = out[at + 1:] if keep_comment else out[at:]
        if at and all(p == " " or p == ";" for p in rest):
            last = inner
    return out, rows, first_c, last


def _number(t: str) -> int | float:
    if t[:2] in ("0x", "0X"):
        return int(t, 16)
    if t[:2] in ("0b", "0B"):
        return int(t, 2)
    if t.isdigit():
        return int(t)
    return float(t)


def _string(t: str) -> str:
    q = t[0]
    s = t[1:-1] if _CLOSED[q].fullmatch(t) else t[1:]  # an unterminated string runs to the end
    if "\\" in s or q + q in s:  # in one pass: an escaped backslash may precede a doubled quote
        s = _UNESCAPE[q].sub(lambda e: q if e.group(1) is None else _ESCAPES.get(e.group(1), e.group(1)), s)
    return s


# --------------------------------------------------------------------------------------------------
# Grouping passes (rules 5 and 6)


def _group_values(p: list[str], limit: int) -> list[str]:
    """Rule 5: inside parentheses, a run of more than ``limit + 1`` ``?`` items (each preceded by
    ``(`` or ``,`` and followed by ``,`` or ``)``) keeps its first ``limit`` items, then ``...``."""
    res: list[str] = []
    app = res.append
    n = len(p)
    depth = 0
    i = 0
    keep = ["?", ","] * limit + ["..."]
    while i < n:
        t = p[i]
        if t == "?" and depth and (res[-1] == "," or res[-1] == "("):
            j = i
            count = 0
            last = -1
            while j + 1 < n and p[j] == "?":
                nx = p[j + 1]
                if nx == ",":
                    count += 1
                    last = j
                    j += 2
                elif nx == ")":
                    count += 1
                    last = j
                    break
                else:
                    break
            if count >= limit + 2:
                res.extend(keep)
                i = last + 1
                continue
            if count:
                res.extend(p[i:last + 1])
                i = last + 1
                continue
        elif t == "(":
            depth += 1
        elif t == ")" and depth:
            depth -= 1
        app(t)
        i += 1
    return res


def _group_end(p: list[str], i: int, n: int) -> int:
    """If a group made only of ``?`` items (possibly ending in ``...``) starts at ``p[i]``, the index of
    its last piece (a row piece is a whole group); else -1."""
    t = p[i]
    if t != "(":
        return i if t[0] == "(" and t[-1] == ")" else -1  # a row piece
    j = i + 1
    while j + 1 < n and p[j] == "?":
        nx = p[j + 1]
        if nx == ")":
            return j + 1
        if nx != ",":
            return -1
        if j + 3 < n and p[j + 2] == "..." and p[j + 3] == ")":
            return j + 3
        j += 2
    return -1


def _group_rows(p: list[str], limit: int) -> list[str]:
    """Rule 6: after ``limit`` such groups in a row (separated by ``,``), the rest become ``...``."""
    res: list[str] = []
    n = len(p)
    i = 0
    while i < n:
        if p[i][0] == "(":
            e = _group_end(p, i, n)
            if e >= 0:
                count = 1
                keep_to = e  # the last piece of the limit-th group
                while e + 2 < n and p[e + 1] == ",":
                    e2 = _group_end(p, e + 2, n)
                    if e2 < 0:
                        break
                    e = e2
                    count += 1
                    if count == limit:
                        keep_to = e
                if count > limit:
                    res.extend(p[i:keep_to + 1])
                    res.append(",...")
                else:
                    res.extend(p[i:e + 1])
                i = e + 1
                continue
        res.append(p[i])
        i += 1
    return res


# --------------------------------------------------------------------------------------------------
# Public API


def _cut_utf8(s: str, limit: int) -> str:
    """``s`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    if len(s) * 4 <= limit:
        return s
    if s.isascii():
        return s[:limit]
    b = s.encode("utf-8", "surrogatepass")
    if len(b) <= limit:
        return s
    b = b[:limit]
    for drop in range(4):  # back off to a character boundary
        try:
            return b[:len(b) - drop].decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            continue
    return b.decode("utf-8", "ignore")


_blake2b = hashlib.blake2b
_new = object.__new__
# Frozen dataclasses assign fields through object.__setattr__, which costs as much as the rest of a
# short digest; writing through the slot descriptors directly is safe and two times faster.
_set_fields = (Digest.text.__set__, Digest.hash.__set__, Digest.hex.__set__,  # type: ignore[attr-defined]
               Digest.first_comment.__set__, Digest.last_comment.__set__)  # type: ignore[attr-defined]


def _make(text: str, first_c: str | None, last_c: str | None) -> Digest:
    raw = _blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    d = _new(Digest)
    s_text, s_hash, s_hex, s_first, s_last = _set_fields
    s_text(d, text)
    s_hash(d, int.from_bytes(raw, "big"))
    s_hex(d, "0x" + raw.hex().upper())
    s_first(d, first_c)
    s_last(d, last_c)
    return d


def _compute(sql: str, o: DigestOptions) -> Digest:
    if len(sql) * 4 > o.max_query_length:
        sql = _cut_utf8(sql, o.max_query_length)
    out, rows, first_c, last_c = _scan(sql, o, None)
    gl = o.grouping_limit
    if gl > 0 and out.count("?") >= gl + 2:  # row pieces are grouped already
        out = _group_values(out, gl)
    ggl = o.groups_grouping_limit
    if ggl > 0 and gl > 0 and rows + out.count("(") > ggl:
        out = _group_rows(out, ggl)
    text = "".join(out).rstrip(" ;")
    if o.lowercase:
        text = text.lower()
    if len(text) * 4 > o.max_digest_length:
        text = _cut_utf8(text, o.max_digest_length).rstrip(" ")
    return _make(text, first_c, last_c)


# A bounded cache keyed by the raw statement, valid for one options value at a time (the daemon
# uses one DigestOptions object until the variables change). Only statements up to _CACHE_MAX_SQL
# characters are cached, so memory stays under about _CACHE_SIZE * 2 * _CACHE_MAX_SQL characters.
# When full it is emptied at once: cheaper than LRU bookkeeping on every hit.
_CACHE_SIZE = 4096
_CACHE_MAX_SQL = 512
_cache: dict[str, Digest] = {}
_cache_opts: DigestOptions = DEFAULT
_cache_shapes = True  # _shape_ok(_cache_opts)


def clear_cache() -> None:
    """Forget cached digests (tests and benchmarks; the cache also resets itself when full)."""
    _cache.clear()
    _SHAPES.clear()


# Second level, for statements that differ only in their literal values (``WHERE id=5031``, ``id=17``,
# …): keyed by the statement with its plain numbers and single-quoted strings masked. Two statements
# with the same mask have the same digest as long as the mask cannot hide anything the digest keeps:
# so only without comments, double quotes, backquotes or backslashes in the text, and only under options
# that keep no digits, comments or NULLs apart. A number glued to a word (``sbtest1``, ``1e``, ``0x1F``)
# is left alone, so names stay distinct.
_SHAPES: dict[str, Digest] = {}
_MASK = re.compile(r"'[^'\\]*(?:''[^'\\]*)*'|(?<![\w$.])[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?(?![\w$.])")
try:  # the same substitution in C for ASCII text (None otherwise): ~20x faster than the regex
    from proxyd._native_digest import mask_literals as _native_mask
except ImportError:  # not built: the regex does it
    _native_mask = None
if os.environ.get("PROXYD_NO_NATIVE"):
    _native_mask = None


def _maskable(sql: str) -> bool:
    # plain substring tests: several times faster than one regex search over the text
    return not ("/*" in sql or "--" in sql or "#" in sql or '"' in sql or "`" in sql or "\\" in sql)


def _shape_ok(o: DigestOptions) -> bool:
    return not (o.no_digits or o.keep_comment or o.replace_null or o.lowercase)


def digest(sql: str, options: DigestOptions = DEFAULT) -> Digest:
    """The digest of ``sql`` under ``options`` (spec §13)."""
    global _cache_opts, _cache_shapes
    if len(sql) > _CACHE_MAX_SQL:
        return _compute(sql, options)
    if options is not _cache_opts:
        if options != _cache_opts:
            _cache.clear()
            _SHAPES.clear()
        _cache_opts, _cache_shapes = options, _shape_ok(options)
    d = _cache.get(sql)
    if d is None:
        shape = None
        # _maskable, inline: this runs for every statement sent as text
        if _cache_shapes and not ("/*" in sql or "--" in sql or "#" in sql or '"' in sql or "`" in sql
                                  or "\\" in sql):
            shape = _native_mask(sql) if _native_mask is not None else None
            if shape is None:
                shape = _MASK.sub("?", sql)
            d = _SHAPES.get(shape)
            if d is not None:
                return d  # not added to the exact cache: literal-varying texts would only churn it
        if d is None:
            d = _compute(sql, options)
            if shape is not None:
                if len(_SHAPES) >= _CACHE_SIZE:
                    _SHAPES.clear()
                _SHAPES[shape] = d
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[sql] = d
    return d


def shape_of(sql: str, options: DigestOptions) -> str | None:
    """The key under which :func:`digest` shares one digest among statements that differ only in
    their literals (same shape, same digest); None when it does not (the text has comments, quotes
    or backslashes, the options keep digits apart, or digests were not computed under ``options``
    yet). Lets callers memoize what they derive from a digest."""
    if options is not _cache_opts or not _cache_shapes or "/*" in sql or "--" in sql or "#" in sql or '"' in sql \
            or "`" in sql or "\\" in sql:
        return None
    shape = _native_mask(sql) if _native_mask is not None else None
    return shape if shape is not None else _MASK.sub("?", sql)


def literals(sql: str, options: DigestOptions = DEFAULT) -> list[str | int | float | None]:
    """The literal values that ``digest(sql, options)`` replaced with ``?``, in order, one per ``?``
    before grouping (so ``IN (1,2,3,4,5)`` gives five values although the text shows ``?,?,?,...``).

    * Strings are unquoted and unescaped (``''`` / ``\\'`` → ``'``, ``\\n`` → newline, ...); a prefix
      kept in the text (``N``, ``_utf8mb4``, ``X``, ``b``) is not part of the value, so ``X'0A'`` gives
      ``'0A'``.
    * Integers give ``int``, ``0x…`` / ``0b…`` their ``int`` value, decimals and exponent forms
      ``float`` (more than 17 significant digits lose precision).
    * A unary sign dropped from the text is folded in: ``-4`` gives ``-4``; ``-'a'`` gives ``'-a'``.
    * ``NULL`` gives ``None``, and only when ``options.replace_null`` is set (otherwise ``NULL`` stays in
      the text and is no literal); ``?`` placeholders already in ``sql`` give nothing.
    """
    if len(sql) * 4 > options.max_query_length:
        sql = _cut_utf8(sql, options.max_query_length)
    vals: list[str | int | float | None] = []
    _scan(sql, options, vals)
    return vals
