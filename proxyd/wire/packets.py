"""Packets mysql-mimic builds incompletely: OK (info text, warnings) and ERR (any SQLSTATE)."""

from __future__ import annotations

from mysql_mimic.types import Capabilities, str_len, uint_1, uint_2, uint_len

_PROTO41 = int(Capabilities.CLIENT_PROTOCOL_41)  # a plain int: enum flag tests cost microseconds


def ok_packet(capabilities: int, status: int, affected_rows: int = 0, last_insert_id: int = 0,
              warnings: int = 0, info: str = "", eof: bool = False) -> bytes:
    parts = [b"\xfe" if eof else b"\x00", uint_len(affected_rows), uint_len(last_insert_id)]
    if capabilities & _PROTO41:
        parts += [uint_2(status), uint_2(min(warnings, 0xFFFF))]
    if info:
        # Length-prefixed, as MySQL and MariaDB servers send it: libmariadb (mysql CLI, sysbench)
        # always reads a length-encoded string here and reports a malformed packet otherwise.
        parts.append(str_len(info.encode()))
    return b"".join(parts)


def err_packet(capabilities: int, code: int, sqlstate: str, message: str) -> bytes:
    parts = [b"\xff", uint_2(code)]
    if capabilities & _PROTO41:
        parts += [b"#", sqlstate.encode()[:5].ljust(5, b"0")]
    parts.append(message.encode("utf-8", "replace"))
    return b"".join(parts)


def eof_packet(capabilities: int, status: int, warnings: int = 0) -> bytes:
    if capabilities & _PROTO41:
        return b"\xfe" + uint_2(min(warnings, 0xFFFF)) + uint_2(status)
    return b"\xfe"


__all__ = ["ok_packet", "err_packet", "eof_packet", "uint_1"]
