"""filters: WeScale-style filters (pattern + action around every statement) for proxyd."""

from __future__ import annotations

from plugins.filters.plugin import FiltersPlugin

__all__ = ["FiltersPlugin"]
