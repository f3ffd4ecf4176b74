"""Test-only proxyd plugins; see pyproject.toml for the entry points and tests/test_plugins.py."""
