"""Example query-rewrite plugins for proxyd (see docs/plugin-guide.md, "Query rewrite plugins")."""

from proxyd.results import Warning_

NOTE_LIMIT = 512  # bytes, MySQL's message buffer


def rewrite_note(before: str, after: str) -> Warning_:
    """MySQL's Note 1105 for a rewritten statement; a rewrite plugin adds it to ``ctx.warnings``."""
    text = f"Query '{before}' rewritten to '{after}' by a query rewrite plugin"
    raw = text.encode("utf-8", "surrogatepass")
    return Warning_("Note", 1105, raw[:NOTE_LIMIT].decode("utf-8", "ignore") if len(raw) > NOTE_LIMIT else text)
