"""A plugin whose status_json raises."""

from __future__ import annotations

from proxyd.hookspecs import hookimpl


class StatusRaises:
    PROXYD_ABI = ">=1.0,<2"

    @hookimpl
    def status_json(self) -> dict:
        raise ValueError("status is unavailable on purpose")
