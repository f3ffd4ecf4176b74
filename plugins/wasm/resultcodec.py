"""The JSON encoding of statement outcomes that guests read (get_result) and write (set_result).

A result set: ``{"columns": ["c1", …], "rows": [[v, …], …]}``; an OK packet:
``{"affected_rows": n, "last_insert_id": n, "info": "…"}``. Values are JSON numbers, strings or
null; values JSON cannot carry (decimals, dates, bytes) travel as their MySQL text form.
"""

from __future__ import annotations

import datetime
import decimal
import json
from typing import Any

from proxyd.results import Ok, ResultSet

_COMPACT = (",", ":")


def _plain(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", errors="replace")
    if isinstance(v, (decimal.Decimal, datetime.date, datetime.time, datetime.timedelta)):
        return str(v)
    return str(v)


def encode_result(res: Ok | ResultSet) -> bytes:
    if isinstance(res, ResultSet):
        doc: dict[str, Any] = {"columns": list(res.columns), "rows": [list(r) for r in res.rows]}
    else:
        doc = {"affected_rows": res.affected_rows, "last_insert_id": res.last_insert_id, "info": res.info}
    return json.dumps(doc, separators=_COMPACT, default=_plain, ensure_ascii=False).encode()


def decode_result(raw: bytes) -> Ok | ResultSet:
    """Parse what a guest wrote; raise ValueError naming the problem."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"result is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("result must be a JSON object")  # noqa: TRY004 - one error type for bad guest data
    if "columns" in doc:
        cols, rows = doc["columns"], doc.get("rows", [])
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols) or not cols:
            raise ValueError("columns must be a non-empty list of strings")
        if not isinstance(rows, list):
            raise ValueError("rows must be a list")
        out = []
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(cols):
                raise ValueError(f"row {i} must be a list of {len(cols)} values")
            if any(isinstance(v, (dict, list)) for v in row):
                raise ValueError(f"row {i} holds a nested value")
            out.append(tuple(None if v is None else (int(v) if isinstance(v, bool) else v) for v in row))
        return ResultSet(cols, out)
    ints = {}
    for key in ("affected_rows", "last_insert_id"):
        v = doc.get(key, 0)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{key} must be a non-negative integer")
        ints[key] = v
    info = doc.get("info", "")
    if not isinstance(info, str):
        raise ValueError("info must be a string")  # noqa: TRY004
    return Ok(affected_rows=ints["affected_rows"], last_insert_id=ints["last_insert_id"], info=info)
