"""A plugin whose module cannot be imported."""

PROXYD_ABI = ">=1.0,<2"

raise ImportError("proxyd_test_plugins.import_error is broken on purpose")
