"""The MySQL errors the filters plugin answers with (documented in docs/filters.md)."""

from __future__ import annotations

from proxyd.errors import ParseError, ProxydError


class FilterSyntaxError(ParseError):
    """Bad grammar or an unknown/duplicate field: 1064 / 42000."""


class FilterValueError(ProxydError):
    """A field's value is refused (priority, status, plans, regex, template, action, …): 1525 / HY000."""

    code, sqlstate = 1525, "HY000"

    def __init__(self, field: str, message: str):
        super().__init__(f"Incorrect {field} value: {message}")
        self.field = field


class FilterExistsError(ProxydError):
    code, sqlstate = 1304, "42000"


class NoSuchFilterError(ProxydError):
    code, sqlstate = 1305, "42000"


class FilterAccessDenied(ProxydError):
    code, sqlstate = 1227, "42000"


class RuleDisallowed(ProxydError):
    """FAIL: the statement is refused by a rule (1105 / HY000, as WeScale reports it)."""


class QueueFullError(ProxydError):
    """CONCURRENCY_CONTROL: the filter's queue is full (1637 / HY000, ER_TOO_MANY_CONCURRENT_TRXS)."""

    code, sqlstate = 1637, "HY000"
