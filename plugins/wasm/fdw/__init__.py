"""Wasm foreign tables: guests that serve SQLite virtual tables on the embedded backend (docs/wasm-fdw.md)."""

from __future__ import annotations

from plugins.wasm.fdw.service import FdwService

__all__ = ["FdwService"]
