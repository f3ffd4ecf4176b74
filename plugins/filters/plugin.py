"""The filters plugin object (entry point ``filters``): wiring only, the work is in the sibling modules."""

from __future__ import annotations

from typing import Any

from plugins.filters import hookspecs
from proxyd.hookspecs import hookimpl


class FiltersPlugin:
    """WeScale-style filters: pattern matching plus actions around every SQL-port statement."""

    PROXYD_ABI = ">=1.0,<2"
    PROXYD_REQUIRES: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.services: Any = None

    @hookimpl
    def init(self, services: Any) -> None:
        self.services = services
        services.add_hookspecs(hookspecs)
