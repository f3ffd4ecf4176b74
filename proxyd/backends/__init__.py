"""Backends that execute client statements (the embedded SQLite engine lives here)."""
