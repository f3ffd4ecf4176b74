"""proxyd: a MySQL-protocol SQL proxy daemon whose features come from plugins."""

__version__ = "0.1.0"

#: The plugin ABI this host provides; plugins declare a semver requirement against it.
HOST_ABI = "1.0"
