"""MySQL functions for SQLite: registered on every apsw connection the embedded backend opens.

The translator (:mod:`proxyd.backends.translate`) keeps MySQL function names wherever SQLite has no
equivalent with the same meaning, so each of them must exist here under that name. Values follow
MySQL's conventions as far as SQLite's type system allows:

* Dates and times are text: ``'YYYY-MM-DD'``, ``'YYYY-MM-DD HH:MM:SS[.ffffff]'``, ``'HH:MM:SS'``, in
  the process's local time zone (MySQL's ``SYSTEM`` time zone). An unparsable date gives NULL, as
  MySQL does (without the warning).
* ``NOW()``/``CURDATE()``/... read the clock on each call, not once per statement (a difference only
  visible in a statement that runs for more than a second).
* Functions of the session (``LAST_INSERT_ID()``, ``DATABASE()``, ``USER()``, ``CONNECTION_ID()``,
  ``FOUND_ROWS()``, ``ROW_COUNT()``, system and user variables) read the object passed to
  :func:`register` (the session), so one connection serves exactly one session.
* ``SLEEP(n)`` really blocks its thread, waiting on the session's ``sleep_interrupt`` event: it
  returns 0, or 1 at once when the event is set (the session's ``interrupt()``/``close()``, which
  also make SQLite abort the statement with 1317). The session never lets it run on the event
  loop: statements that mention SLEEP run on a worker thread (see :mod:`proxyd.backends.embedded`).
* ``DATE_ADD``/``DATE_SUB`` here take three arguments ``(date, amount, 'UNIT')``: the translator
  rewrites ``DATE_ADD(d, INTERVAL n DAY)`` and ``d + INTERVAL n DAY`` into that form.

Pure functions are registered as deterministic so that SQLite may fold them and allow them in
indexes and generated columns.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import itertools
import math
import random
import re
import threading
import time
import uuid
import zlib
from datetime import date, datetime, timedelta
from typing import Any, Callable, Protocol

import apsw

__all__ = ["SessionInfo", "register", "parse_datetime", "format_datetime", "date_add", "date_format"]


class SessionInfo(Protocol):
    """What the session-dependent functions read (the embedded session provides all of it)."""

    schema: str | None
    last_insert_id: int
    user: str
    connection_id: int
    found_rows: int
    row_count: int
    user_vars: dict[str, Any]
    sleep_interrupt: threading.Event

    def sysvar(self, name: str) -> Any: ...


# --------------------------------------------------------------------------------------------------
# Date and time helpers (also used by the tests)

_DT = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?\s*$")
_COMPACT = re.compile(r"\s*(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2}))?(?:\.(\d{1,6}))?\s*$")
_TIME = re.compile(r"\s*(-)?(?:(\d+) )?(\d{1,3}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?\s*$")


def parse_datetime(v: Any) -> tuple[datetime, bool] | None:
    """``(value, has_time)`` for a MySQL date/datetime value (text or a YYYYMMDD[hhmmss] number)."""
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, float):
        v = repr(v) if v != int(v) else str(int(v))
    if isinstance(v, int):
        v = str(v)
    m = _DT.match(v) or _COMPACT.match(v)
    if m is None:
        return None
    y, mo, d, h, mi, s, f = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                      int((f or "0").ljust(6, "0")))
    except ValueError:
        return None
    return dt, h is not None


def format_datetime(dt: datetime, with_time: bool = True) -> str:
    if not with_time:
        return dt.strftime("%Y-%m-%d")
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{dt.microsecond:06d}" if dt.microsecond else text


def _parse_time_seconds(v: Any) -> float | None:
    """Seconds of a MySQL TIME value ('[-][D ]HH:MM[:SS[.f]]' or a number HHMMSS)."""
    if v is None:
        return None
    if isinstance(v, (int, float)):
        n = abs(v)
        sign = -1 if v < 0 else 1
        return sign * ((int(n) // 10000) * 3600 + (int(n) // 100 % 100) * 60 + (n % 100))
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    m = _TIME.match(v)
    if m is None:
        p = parse_datetime(v)
        if p is None:
            return None
        dt = p[0]
        return dt.hour * 3600 + dt.minute * 60 + dt.second + dt.microsecond / 1e6
    neg, days, h, mi, s, f = m.groups()
    total = int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + int(s or 0) + int((f or "0").ljust(6, "0")) / 1e6
    return -total if neg else total


def _format_time(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    whole = int(seconds)
    micro = round((seconds - whole) * 1e6)
    text = f"{sign}{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return f"{text}.{micro:06d}" if micro else text


# Units of INTERVAL: how a value like '1:30' splits into fields, and the fields' kinds.
_SIMPLE_UNITS = {"MICROSECOND", "SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}
_COMPOUND_UNITS = {
    "SECOND_MICROSECOND": ("SECOND", "MICROSECOND"),
    "MINUTE_MICROSECOND": ("MINUTE", "SECOND", "MICROSECOND"),
    "MINUTE_SECOND": ("MINUTE", "SECOND"),
    "HOUR_MICROSECOND": ("HOUR", "MINUTE", "SECOND", "MICROSECOND"),
    "HOUR_SECOND": ("HOUR", "MINUTE", "SECOND"),
    "HOUR_MINUTE": ("HOUR", "MINUTE"),
    "DAY_MICROSECOND": ("DAY", "HOUR", "MINUTE", "SECOND", "MICROSECOND"),
    "DAY_SECOND": ("DAY", "HOUR", "MINUTE", "SECOND"),
    "DAY_MINUTE": ("DAY", "HOUR", "MINUTE"),
    "DAY_HOUR": ("DAY", "HOUR"),
    "YEAR_MONTH": ("YEAR", "MONTH"),
}


def _interval_parts(amount: Any, unit: str) -> dict[str, float] | None:
    unit = unit.upper()
    if unit in _SIMPLE_UNITS:
        try:
            n = float(amount) if not isinstance(amount, (int, float)) else amount
        except (TypeError, ValueError):
            return None
        return {unit: n}
    fields = _COMPOUND_UNITS.get(unit)
    if fields is None:
        return None
    text = amount.decode() if isinstance(amount, bytes) else str(amount)
    neg = text.strip().startswith("-")
    nums = [int(x) for x in re.findall(r"\d+", text)]
    if not nums:
        return None
    nums = nums[-len(fields):]  # fewer numbers than fields fill from the right, as MySQL does
    parts = dict(zip(fields[len(fields) - len(nums):], nums))
    if "MICROSECOND" in parts and unit.endswith("MICROSECOND"):
        digits = re.findall(r"\d+", text)[-1]
        parts["MICROSECOND"] = int(digits.ljust(6, "0")[:6])
    return {k: (-v if neg else v) for k, v in parts.items()}


def _add_months(dt: datetime, months: int) -> datetime:
    y, m = divmod(dt.month - 1 + months, 12)
    year = dt.year + y
    month = m + 1
    day = min(dt.day, calendar.monthrange(year, month)[1]) if 1 <= year <= 9999 else dt.day
    return dt.replace(year=year, month=month, day=day)


def date_add(value: Any, amount: Any, unit: str, sign: int = 1) -> str | None:
    """MySQL DATE_ADD(value, INTERVAL amount unit) (``sign=-1``: DATE_SUB), as text."""
    p = parse_datetime(value)
    if p is None or amount is None or unit is None:
        return None
    dt, has_time = p
    parts = _interval_parts(amount, str(unit))
    if parts is None:
        return None
    try:
        months = int(parts.get("YEAR", 0) * 12 + parts.get("QUARTER", 0) * 3 + parts.get("MONTH", 0)) * sign
        if months:
            dt = _add_months(dt, months)
        delta = timedelta(weeks=parts.get("WEEK", 0), days=parts.get("DAY", 0), hours=parts.get("HOUR", 0),
                          minutes=parts.get("MINUTE", 0), seconds=parts.get("SECOND", 0),
                          microseconds=parts.get("MICROSECOND", 0))
        dt = dt + delta * sign
    except (OverflowError, ValueError):
        return None
    timeish = has_time or any(k in parts for k in ("HOUR", "MINUTE", "SECOND", "MICROSECOND"))
    return format_datetime(dt, timeish)


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def _week(dt: datetime, mode: int) -> int:
    """MySQL WEEK(date, mode) for the common modes 0..3 (modes 4..7 fall back to 0..3)."""
    mode &= 3
    if mode in (1, 3):  # Monday first, ISO-like
        iso_year, iso_week, _ = dt.isocalendar()
        if mode == 3:
            return iso_week
        return iso_week if iso_year == dt.year else (0 if iso_year < dt.year else iso_week)
    # Sunday first; week 1 holds the first Sunday of the year
    jan1 = dt.replace(month=1, day=1)
    first_sunday = 1 + (6 - jan1.weekday()) % 7
    doy = dt.timetuple().tm_yday
    wk = 0 if doy < first_sunday else (doy - first_sunday) // 7 + 1
    if mode == 2 and wk == 0:
        return _week(dt.replace(year=dt.year - 1, month=12, day=31), 2)
    return wk


def date_format(value: Any, fmt: Any) -> str | None:
    """MySQL DATE_FORMAT: the usual specifiers; an unknown ``%x`` gives ``x``."""
    p = parse_datetime(value)
    if p is None or fmt is None:
        return None
    dt = p[0]
    out: list[str] = []
    fmt = str(fmt)
    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%" or i + 1 == n:
            out.append(ch)
            i += 1
            continue
        c = fmt[i + 1]
        i += 2
        h12 = dt.hour % 12 or 12
        out.append({
            "a": lambda: _DAY_NAMES[dt.weekday()][:3], "b": lambda: dt.strftime("%b"),
            "c": lambda: str(dt.month), "D": lambda: _ordinal(dt.day), "d": lambda: f"{dt.day:02d}",
            "e": lambda: str(dt.day), "f": lambda: f"{dt.microsecond:06d}", "H": lambda: f"{dt.hour:02d}",
            "h": lambda: f"{h12:02d}", "I": lambda: f"{h12:02d}", "i": lambda: f"{dt.minute:02d}",
            "j": lambda: f"{dt.timetuple().tm_yday:03d}", "k": lambda: str(dt.hour), "l": lambda: str(h12),
            "M": lambda: calendar.month_name[dt.month], "m": lambda: f"{dt.month:02d}",
            "p": lambda: "AM" if dt.hour < 12 else "PM",
            "r": lambda: f"{h12:02d}:{dt.minute:02d}:{dt.second:02d} {'AM' if dt.hour < 12 else 'PM'}",
            "S": lambda: f"{dt.second:02d}", "s": lambda: f"{dt.second:02d}",
            "T": lambda: f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}",
            "U": lambda: f"{_week(dt, 0):02d}", "u": lambda: f"{_week(dt, 1):02d}",
            "V": lambda: f"{_week(dt, 2):02d}", "v": lambda: f"{_week(dt, 3):02d}",
            "W": lambda: _DAY_NAMES[dt.weekday()], "w": lambda: str((dt.weekday() + 1) % 7),
            "X": lambda: str(dt.year), "x": lambda: str(dt.isocalendar()[0]),
            "Y": lambda: f"{dt.year:04d}", "y": lambda: f"{dt.year % 100:02d}", "%": lambda: "%",
        }.get(c, lambda: c)())
    return "".join(out)


# MySQL STR_TO_DATE specifiers → strptime ones (those strptime understands the same way).
_STRPTIME = {"Y": "%Y", "y": "%y", "m": "%m", "c": "%m", "d": "%d", "e": "%d", "H": "%H", "k": "%H",
             "h": "%I", "I": "%I", "l": "%I", "i": "%M", "s": "%S", "S": "%S", "f": "%f", "p": "%p",
             "M": "%B", "b": "%b", "a": "%a", "W": "%A", "j": "%j", "T": "%H:%M:%S",
             "r": "%I:%M:%S %p", "%": "%%"}


def _str_to_date(value: Any, fmt: Any) -> str | None:
    if value is None or fmt is None:
        return None
    fmt = str(fmt)
    py: list[str] = []
    has_date = has_time = False
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            c = fmt[i + 1]
            py.append(_STRPTIME.get(c, re.escape(c)))
            has_date |= c in "YymcdeMbajW"
            has_time |= c in "HkhIlisSfpTr"
            i += 2
        else:
            py.append("%%" if fmt[i] == "%" else fmt[i])
            i += 1
    try:
        dt = datetime.strptime(str(value), "".join(py))
    except ValueError:
        return None
    if has_date and not has_time:
        return dt.strftime("%Y-%m-%d")
    if has_time and not has_date:
        return _format_time(dt.hour * 3600 + dt.minute * 60 + dt.second + dt.microsecond / 1e6)
    return format_datetime(dt)


# --------------------------------------------------------------------------------------------------
# Small pure helpers


def _text(v: Any) -> str:
    """MySQL's string form of a value (CONCAT and friends)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return repr(v) if isinstance(v, float) else str(v)


def _num(v: Any) -> float | int | None:
    """MySQL's numeric reading of a value: a string's leading number, else 0."""
    if v is None or isinstance(v, (int, float)):
        return v
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    m = re.match(r"\s*[-+]?(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)", v)
    if m is None:
        return 0
    t = m.group()
    try:
        return int(t)
    except ValueError:
        return float(t)


def _concat(*args: Any) -> str | None:
    if any(a is None for a in args):
        return None
    return "".join(_text(a) for a in args)


def _concat_ws(sep: Any, *args: Any) -> str | None:
    if sep is None:
        return None
    return _text(sep).join(_text(a) for a in args if a is not None)


def _if(cond: Any, a: Any, b: Any) -> Any:
    return a if cond not in (None, 0, 0.0, "", b"") and _num(cond) != 0 else b


def _ifnull(a: Any, b: Any) -> Any:
    return b if a is None else a


def _left(s: Any, n: Any) -> str | None:
    if s is None or n is None:
        return None
    n = int(_num(n) or 0)
    return _text(s)[:max(n, 0)]


def _right(s: Any, n: Any) -> str | None:
    if s is None or n is None:
        return None
    n = int(_num(n) or 0)
    return _text(s)[-n:] if n > 0 else ""


def _pad(left: bool) -> Callable[[Any, Any, Any], str | None]:
    def pad(s: Any, n: Any, fill: Any) -> str | None:
        if s is None or n is None or fill is None:
            return None
        s, n, fill = _text(s), int(_num(n) or 0), _text(fill)
        if n < 0:
            return None
        if len(s) >= n:
            return s[:n]
        if not fill:
            return None
        need = n - len(s)
        extra = (fill * (need // len(fill) + 1))[:need]
        return extra + s if left else s + extra
    return pad


def _hash(algo: str) -> Callable[[Any], str | None]:
    def digest(v: Any) -> str | None:
        if v is None:
            return None
        data = v if isinstance(v, bytes) else _text(v).encode("utf-8")
        return hashlib.new(algo, data).hexdigest()
    return digest


def _sha2(v: Any, bits: Any) -> str | None:
    algo = {0: "sha256", 224: "sha224", 256: "sha256", 384: "sha384", 512: "sha512"}.get(int(_num(bits) or 0))
    return None if algo is None else _hash(algo)(v)


def _greatest(*args: Any) -> Any:
    if not args or any(a is None for a in args):
        return None
    if all(isinstance(a, (int, float)) for a in args):
        return max(args)
    return max(_text(a) for a in args)


def _least(*args: Any) -> Any:
    if not args or any(a is None for a in args):
        return None
    if all(isinstance(a, (int, float)) for a in args):
        return min(args)
    return min(_text(a) for a in args)


def _rand(seed: Any = None) -> float:
    if seed is None:
        return random.random()
    return random.Random(int(_num(seed) or 0)).random()


def _regexp(pattern: Any, value: Any) -> int | None:
    """SQLite's ``X REGEXP Y`` calls ``regexp(Y, X)``. MySQL's REGEXP is case-insensitive under the
    default (``_ci``) collations."""
    if pattern is None or value is None:
        return None
    return 1 if re.search(_text(pattern), _text(value), re.IGNORECASE) else 0


def _regexp_replace(value: Any, pattern: Any, repl: Any) -> str | None:
    if value is None or pattern is None or repl is None:
        return None
    return re.sub(_text(pattern), re.sub(r"\$(\d)", r"\\\1", _text(repl)), _text(value))


def _substring_index(s: Any, delim: Any, count: Any) -> str | None:
    if s is None or delim is None or count is None:
        return None
    s, delim, count = _text(s), _text(delim), int(_num(count) or 0)
    if not delim or count == 0:
        return ""
    parts = s.split(delim)
    return delim.join(parts[:count]) if count > 0 else delim.join(parts[count:])


def _field(v: Any, *items: Any) -> int:
    if v is None:
        return 0
    for i, it in enumerate(items, 1):
        if it is not None and (it == v or _text(it).lower() == _text(v).lower()):
            return i
    return 0


def _find_in_set(v: Any, items: Any) -> int | None:
    if v is None or items is None:
        return None
    try:
        return [x.lower() for x in _text(items).split(",")].index(_text(v).lower()) + 1
    except ValueError:
        return 0


def _elt(n: Any, *items: Any) -> Any:
    i = int(_num(n) or 0)
    return items[i - 1] if 1 <= i <= len(items) else None


def _hex(v: Any) -> str | None:
    """MySQL HEX: of a number, its value in hex; of a string, its bytes."""
    if v is None:
        return None
    if isinstance(v, int):
        return format(v & 0xFFFFFFFFFFFFFFFF, "X")
    if isinstance(v, float):
        return format(int(round(v)) & 0xFFFFFFFFFFFFFFFF, "X")
    data = v if isinstance(v, bytes) else v.encode("utf-8")
    return data.hex().upper()


def _unhex(v: Any) -> bytes | None:
    try:
        return None if v is None else bytes.fromhex(_text(v))
    except ValueError:
        return None


def _truncate(v: Any, d: Any) -> float | int | None:
    if v is None or d is None:
        return None
    x = _num(v)
    d = int(_num(d) or 0)
    f = 10.0 ** d
    r = math.trunc(x * f) / f
    return int(r) if d <= 0 else r


def _format(v: Any, d: Any, _locale: Any = None) -> str | None:
    if v is None or d is None:
        return None
    return f"{float(_num(v)):,.{max(int(_num(d) or 0), 0)}f}"


def _unix_timestamp(v: Any = ...) -> int | float | None:
    if v is ...:
        return int(time.time())
    p = parse_datetime(v)
    if p is None:
        return None
    ts = time.mktime(p[0].timetuple()) + p[0].microsecond / 1e6
    return int(ts) if not p[0].microsecond else ts


def _from_unixtime(ts: Any, fmt: Any = None) -> str | None:
    if ts is None:
        return None
    try:
        dt = datetime.fromtimestamp(float(_num(ts) or 0))
    except (OverflowError, OSError, ValueError):
        return None
    return format_datetime(dt) if fmt is None else date_format(format_datetime(dt), fmt)


def _now(fsp: Any = 0) -> str:
    dt = datetime.now()
    if not fsp:
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    digits = max(0, min(int(fsp), 6))
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:20 + digits]


def _utc_now(fsp: Any = 0) -> str:
    return datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S" + (".%f" if fsp else ""))


def _curtime(fsp: Any = 0) -> str:
    return _now(fsp)[11:]


def _part(fn: Callable[[datetime], Any], needs_date: bool = True) -> Callable[[Any], Any]:
    def extract(v: Any) -> Any:
        p = parse_datetime(v)
        if p is None:
            if needs_date:
                return None
            secs = _parse_time_seconds(v)
            if secs is None:
                return None
            base = datetime(2000, 1, 1) + timedelta(seconds=abs(secs))
            return fn(base)
        return fn(p[0])
    return extract


def _datediff(a: Any, b: Any) -> int | None:
    pa, pb = parse_datetime(a), parse_datetime(b)
    if pa is None or pb is None:
        return None
    return (pa[0].date() - pb[0].date()).days


_UNIT_SECONDS = {"MICROSECOND": 1e-6, "SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800}


def _timestampdiff(unit: Any, a: Any, b: Any) -> int | None:
    pa, pb = parse_datetime(a), parse_datetime(b)
    if pa is None or pb is None or unit is None:
        return None
    u = str(unit).upper()
    x, y = pa[0], pb[0]
    if u in ("MONTH", "QUARTER", "YEAR"):
        months = (y.year - x.year) * 12 + (y.month - x.month)
        # a month only counts once its day-and-time is reached
        if months > 0 and (y.day, y.time()) < (x.day, x.time()):
            months -= 1
        elif months < 0 and (y.day, y.time()) > (x.day, x.time()):
            months += 1
        per_unit = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[u]
        return int(months / per_unit)  # truncates toward zero, like MySQL
    per = _UNIT_SECONDS.get(u)
    if per is None:
        return None
    delta = (y - x).total_seconds()
    return int(delta / per) if u != "MICROSECOND" else int(round(delta * 1e6))


def _last_day(v: Any) -> str | None:
    p = parse_datetime(v)
    if p is None:
        return None
    dt = p[0]
    return date(dt.year, dt.month, calendar.monthrange(dt.year, dt.month)[1]).isoformat()


def _makedate(year: Any, doy: Any) -> str | None:
    if year is None or doy is None or int(_num(doy) or 0) <= 0:
        return None
    try:
        return (date(int(_num(year) or 0), 1, 1) + timedelta(days=int(_num(doy) or 0) - 1)).isoformat()
    except (ValueError, OverflowError):
        return None


def _sec_to_time(v: Any) -> str | None:
    return None if v is None else _format_time(float(_num(v) or 0))


def _time_to_sec(v: Any) -> int | float | None:
    s = _parse_time_seconds(v)
    return None if s is None else (int(s) if float(s).is_integer() else s)


def _addtime(sign: int) -> Callable[[Any, Any], str | None]:
    def add(v: Any, t: Any) -> str | None:
        secs = _parse_time_seconds(t)
        if v is None or secs is None:
            return None
        p = parse_datetime(v)
        if p is not None and p[1]:
            return format_datetime(p[0] + timedelta(seconds=secs * sign))
        base = _parse_time_seconds(v)
        return None if base is None else _format_time(base + sign * secs)
    return add


def _strcmp(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    x, y = _text(a).lower(), _text(b).lower()
    return (x > y) - (x < y)


def _conv(v: Any, from_base: Any, to_base: Any) -> str | None:
    if v is None or from_base is None or to_base is None:
        return None
    try:
        n = int(_text(v), int(_num(from_base) or 10))
    except ValueError:
        return "0"
    tb = abs(int(_num(to_base) or 10))
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if n == 0:
        return "0"
    neg, n = n < 0, abs(n)
    out = []
    while n:
        n, r = divmod(n, tb)
        out.append(digits[r])
    return ("-" if neg else "") + "".join(reversed(out))


def _bit_count(v: Any) -> int | None:
    return None if v is None else bin(int(_num(v) or 0) & 0xFFFFFFFFFFFFFFFF).count("1")


def _inet_aton(v: Any) -> int | None:
    if v is None:
        return None
    parts = _text(v).split(".")
    if not 1 <= len(parts) <= 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return None
    nums = [int(p) for p in parts]
    return sum(n << (8 * (3 - i)) for i, n in enumerate(nums[:-1])) + nums[-1] if len(nums) == 4 else None


def _inet_ntoa(v: Any) -> str | None:
    if v is None:
        return None
    n = int(_num(v) or 0)
    return ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0)) if 0 <= n < 2 ** 32 else None


def _mod(a: Any, b: Any) -> int | float | None:
    x, y = _num(a), _num(b)
    if x is None or y is None or y == 0:
        return None  # MySQL: MOD(x, 0) is NULL
    r = math.fmod(x, y)  # the sign follows the dividend, as in MySQL
    return int(r) if isinstance(x, int) and isinstance(y, int) else r


def _null_if_none(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Most MySQL functions return NULL when an argument is NULL."""
    def wrapped(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return fn(*args)
    return wrapped


class _BitAgg:
    """BIT_AND / BIT_OR / BIT_XOR aggregates over unsigned 64-bit values."""

    def __init__(self, op: str):
        self.op = op
        self.acc = 0xFFFFFFFFFFFFFFFF if op == "and" else 0

    def step(self, v: Any) -> None:
        if v is None:
            return
        n = int(_num(v) or 0) & 0xFFFFFFFFFFFFFFFF
        if self.op == "and":
            self.acc &= n
        elif self.op == "or":
            self.acc |= n
        else:
            self.acc ^= n

    def final(self) -> int:
        # SQLite integers are signed 64-bit; values above 2**63 come back as floats.
        return self.acc if self.acc < 2 ** 63 else float(self.acc)


class _Variance:
    """VARIANCE/VAR_POP/STD/STDDEV(_POP) and the _SAMP forms (Welford's online algorithm)."""

    def __init__(self, sample: bool, root: bool):
        self.sample, self.root = sample, root
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def step(self, v: Any) -> None:
        if v is None:
            return
        x = float(_num(v) or 0)
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)

    def final(self) -> float | None:
        div = self.n - 1 if self.sample else self.n
        if div <= 0:
            return None
        var = self.m2 / div
        return math.sqrt(var) if self.root else var


def _aggregate(factory: Callable[[], Any]) -> Callable[[], tuple[Any, Callable, Callable]]:
    def make() -> tuple[Any, Callable, Callable]:
        obj = factory()
        return obj, lambda _ctx, *a: obj.step(*a), lambda _ctx: obj.final()
    return make


# UUID_SHORT(): MySQL's layout (server id, start time, counter) with server id 0
_uuid_short = itertools.count((int(time.time()) & 0xFFFFFFFF) << 24)

# name -> (function, number of arguments or -1, deterministic)
_PURE: list[tuple[str, Callable[..., Any], int]] = [
    ("CONCAT", _concat, -1), ("CONCAT_WS", _concat_ws, -1), ("IF", _if, 3), ("IFNULL", _ifnull, 2),
    ("ISNULL", lambda v: int(v is None), 1),
    ("LEFT", _left, 2), ("RIGHT", _right, 2), ("LPAD", _pad(True), 3), ("RPAD", _pad(False), 3),
    ("LCASE", _null_if_none(lambda s: _text(s).lower()), 1), ("UCASE", _null_if_none(lambda s: _text(s).upper()), 1),
    ("MD5", _hash("md5"), 1), ("SHA1", _hash("sha1"), 1), ("SHA", _hash("sha1"), 1), ("SHA2", _sha2, 2),
    ("GREATEST", _greatest, -1), ("LEAST", _least, -1),
    ("DATE_ADD", lambda d, n, u: date_add(d, n, u), 3), ("DATE_SUB", lambda d, n, u: date_add(d, n, u, -1), 3),
    ("ADDDATE", lambda d, n: date_add(d, n, "DAY"), 2), ("SUBDATE", lambda d, n: date_add(d, n, "DAY", -1), 2),
    ("DATE_FORMAT", date_format, 2), ("STR_TO_DATE", _str_to_date, 2),
    ("FROM_UNIXTIME", _from_unixtime, 1), ("FROM_UNIXTIME", _from_unixtime, 2),
    ("DATEDIFF", _datediff, 2), ("TIMESTAMPDIFF", _timestampdiff, 3),
    ("YEAR", _part(lambda d: d.year), 1), ("MONTH", _part(lambda d: d.month), 1),
    ("DAY", _part(lambda d: d.day), 1), ("DAYOFMONTH", _part(lambda d: d.day), 1),
    ("HOUR", _part(lambda d: d.hour, False), 1), ("MINUTE", _part(lambda d: d.minute, False), 1),
    ("SECOND", _part(lambda d: d.second, False), 1), ("MICROSECOND", _part(lambda d: d.microsecond, False), 1),
    ("DAYOFWEEK", _part(lambda d: (d.weekday() + 1) % 7 + 1), 1), ("WEEKDAY", _part(lambda d: d.weekday()), 1),
    ("DAYOFYEAR", _part(lambda d: d.timetuple().tm_yday), 1), ("QUARTER", _part(lambda d: (d.month - 1) // 3 + 1), 1),
    ("DAYNAME", _part(lambda d: _DAY_NAMES[d.weekday()]), 1),
    ("MONTHNAME", _part(lambda d: calendar.month_name[d.month]), 1),
    ("WEEK", _part(lambda d: _week(d, 0)), 1), ("WEEK", lambda v, m: _part(lambda d: _week(d, int(m or 0)))(v), 2),
    ("WEEKOFYEAR", _part(lambda d: d.isocalendar()[1]), 1),
    ("YEARWEEK", _part(lambda d: d.year * 100 + _week(d, 2)), 1),
    ("TO_DAYS", _part(lambda d: d.toordinal() + 365), 1), ("LAST_DAY", _last_day, 1), ("MAKEDATE", _makedate, 2),
    ("SEC_TO_TIME", _sec_to_time, 1), ("TIME_TO_SEC", _time_to_sec, 1),
    ("ADDTIME", _addtime(1), 2), ("SUBTIME", _addtime(-1), 2),
    ("REGEXP", _regexp, 2), ("REGEXP_LIKE", lambda v, p: _regexp(p, v), 2), ("REGEXP_REPLACE", _regexp_replace, 3),
    ("SUBSTRING_INDEX", _substring_index, 3), ("FIELD", _field, -1), ("FIND_IN_SET", _find_in_set, 2),
    ("ELT", _elt, -1), ("HEX", _hex, 1), ("UNHEX", _unhex, 1), ("TRUNCATE", _truncate, 2),
    ("FORMAT", _format, 2), ("FORMAT", _format, 3), ("REPEAT", _null_if_none(lambda s, n: _text(s) * max(int(_num(n) or 0), 0)), 2),
    ("SPACE", _null_if_none(lambda n: " " * max(int(_num(n) or 0), 0)), 1),
    ("REVERSE", _null_if_none(lambda s: _text(s)[::-1]), 1), ("ASCII", _null_if_none(lambda s: ord(_text(s)[:1]) if _text(s) else 0), 1),
    ("ORD", _null_if_none(lambda s: ord(_text(s)[:1]) if _text(s) else 0), 1),
    ("STRCMP", _strcmp, 2), ("CONV", _conv, 3), ("BIN", _null_if_none(lambda n: format(int(_num(n) or 0), "b")), 1),
    ("OCT", _null_if_none(lambda n: format(int(_num(n) or 0), "o")), 1), ("BIT_COUNT", _bit_count, 1),
    ("BIT_LENGTH", _null_if_none(lambda s: 8 * len(s if isinstance(s, bytes) else _text(s).encode())), 1),
    ("CHAR_LENGTH", _null_if_none(lambda s: len(_text(s))), 1), ("CHARACTER_LENGTH", _null_if_none(lambda s: len(_text(s))), 1),
    ("MID", _null_if_none(lambda s, p, n: _text(s)[int(_num(p) or 1) - 1:int(_num(p) or 1) - 1 + int(_num(n) or 0)] if int(_num(p) or 0) > 0 else ""), 3),
    ("LOCATE", _null_if_none(lambda sub, s, pos=1: (_text(s).lower().find(_text(sub).lower(), int(_num(pos) or 1) - 1) + 1) if int(_num(pos) or 0) > 0 else 0), -1),
    ("TO_BASE64", _null_if_none(lambda s: base64.b64encode(s if isinstance(s, bytes) else _text(s).encode()).decode()), 1),
    ("FROM_BASE64", _null_if_none(lambda s: base64.b64decode(_text(s))), 1),
    ("CRC32", _null_if_none(lambda s: zlib.crc32(s if isinstance(s, bytes) else _text(s).encode())), 1),
    ("INET_ATON", _inet_aton, 1), ("INET_NTOA", _inet_ntoa, 1),
    ("MOD", _mod, 2),
    ("POW", _null_if_none(lambda a, b: float(_num(a)) ** float(_num(b))), 2),
    ("XOR", lambda a, b: None if a is None or b is None else int(bool(_num(a)) != bool(_num(b))), 2),
]

# Not deterministic: clocks, randomness, sleeping.
_VOLATILE: list[tuple[str, Callable[..., Any], int]] = [
    ("NOW", _now, 0), ("NOW", _now, 1), ("SYSDATE", _now, 0), ("SYSDATE", _now, 1),
    ("LOCALTIME", _now, 0), ("LOCALTIMESTAMP", _now, 0), ("CURRENT_TIMESTAMP", _now, 0), ("CURRENT_TIMESTAMP", _now, 1),
    ("UTC_TIMESTAMP", _utc_now, 0), ("UTC_TIMESTAMP", _utc_now, 1),
    ("UTC_DATE", lambda: datetime.utcnow().strftime("%Y-%m-%d"), 0),
    ("UTC_TIME", lambda: datetime.utcnow().strftime("%H:%M:%S"), 0),
    ("CURDATE", lambda: datetime.now().strftime("%Y-%m-%d"), 0),
    ("CURTIME", _curtime, 0), ("CURTIME", _curtime, 1),
    ("UNIX_TIMESTAMP", _unix_timestamp, 0), ("UNIX_TIMESTAMP", _unix_timestamp, 1),
    ("RAND", _rand, 0), ("RAND", _rand, 1), ("UUID", lambda: str(uuid.uuid1()), 0),
    ("UUID_SHORT", lambda: next(_uuid_short), 0),
]


def register(conn: apsw.Connection, session: SessionInfo, version: str) -> None:
    """Register every MySQL function on ``conn``; the session-dependent ones read ``session``."""
    for name, fn, nargs in _PURE:
        conn.create_scalar_function(name, fn, nargs, deterministic=True)
    for name, fn, nargs in _VOLATILE:
        conn.create_scalar_function(name, fn, nargs, deterministic=False)

    for agg_name, factory in (
        ("BIT_AND", lambda: _BitAgg("and")), ("BIT_OR", lambda: _BitAgg("or")), ("BIT_XOR", lambda: _BitAgg("xor")),
        ("STD", lambda: _Variance(False, True)), ("STDDEV", lambda: _Variance(False, True)),
        ("STDDEV_POP", lambda: _Variance(False, True)), ("STDDEV_SAMP", lambda: _Variance(True, True)),
        ("VARIANCE", lambda: _Variance(False, False)), ("VAR_POP", lambda: _Variance(False, False)),
        ("VAR_SAMP", lambda: _Variance(True, False)),
    ):
        conn.create_aggregate_function(agg_name, _aggregate(factory), 1)

    def last_insert_id(value: Any = ...) -> int:
        if value is not ...:  # LAST_INSERT_ID(expr) sets the value and returns it
            session.last_insert_id = int(_num(value) or 0)
        return session.last_insert_id

    def sysvar(name: str) -> Any:
        return session.sysvar(name)

    def uservar(name: str) -> Any:
        return session.user_vars.get(name.lower())

    def sleep(seconds: Any) -> int:
        # Only ever reached on a worker thread (the session routes statements mentioning SLEEP there).
        if seconds is None:
            return 0
        return 1 if session.sleep_interrupt.wait(max(0.0, float(_num(seconds) or 0))) else 0

    for name, fn, nargs in (
        ("LAST_INSERT_ID", last_insert_id, 0), ("LAST_INSERT_ID", last_insert_id, 1),
        ("DATABASE", lambda: session.schema, 0), ("SCHEMA", lambda: session.schema, 0),
        ("VERSION", lambda: version, 0), ("CONNECTION_ID", lambda: session.connection_id, 0),
        ("USER", lambda: session.user, 0), ("SESSION_USER", lambda: session.user, 0),
        ("SYSTEM_USER", lambda: session.user, 0), ("CURRENT_USER", lambda: session.user, 0),
        ("FOUND_ROWS", lambda: session.found_rows, 0), ("ROW_COUNT", lambda: session.row_count, 0),
        ("_PROXYD_SYSVAR", sysvar, 1), ("_PROXYD_USERVAR", uservar, 1), ("SLEEP", sleep, 1),
    ):
        conn.create_scalar_function(name, fn, nargs, deterministic=False)
