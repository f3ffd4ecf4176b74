"""A plugin whose status_json raises."""

from __future__ import annotations

from proxyd.hookspecs import hookimpl


class StatusRaises:
    PROXYD_ABI = ">=1.0,<2"

    @hookimpl
    def status_json(self) -> dict:
        raise ValueError("status is unavailable on purpose")


class Watcher:
    """Records every plugins_changed notification; shows them in status_json."""

    PROXYD_ABI = ">=1.0,<2"

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    @hookimpl
    def plugins_changed(self, loaded: list[str]) -> None:
        self.seen.append(list(loaded))

    @hookimpl
    def embedded_engine_opened(self, engine) -> None:
        self.engine_dir = engine.dir  # historic: replayed at registration when loaded later

    @hookimpl
    def status_json(self) -> dict:
        return {"seen": self.seen, "engine": bool(getattr(self, "engine_dir", None))}
