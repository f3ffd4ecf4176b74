"""MySQL's query-rewrite semantics for proxyd: the ``rewriter`` plugin (see docs/query-rewrite.md)."""

from plugins.rewriter.plugin import RewriterPlugin

__all__ = ["RewriterPlugin"]
