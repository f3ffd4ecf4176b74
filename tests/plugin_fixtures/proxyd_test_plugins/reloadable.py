"""A module plugin whose RELOAD is observable: an import counter and a value read at import."""

from __future__ import annotations

import os
from typing import Any

from proxyd.hookspecs import hookimpl
from proxyd.results import ResultSet

PROXYD_ABI = ">=1.0,<2"

# importlib.reload re-runs this file in the same module dict, so the old count is still there.
IMPORTS: int = globals().get("IMPORTS", 0) + 1


def _read_marker() -> str:
    path = os.environ.get("PROXYD_TEST_RELOAD_FILE", "")
    return open(path).read().strip() if path and os.path.exists(path) else ""


MARKER = _read_marker()  # only a re-import sees a new file content


@hookimpl
def init(services: Any) -> None:
    if _read_marker() == "fail-init":  # read now, not at import: LOAD PLUGIN can recover without a re-import
        raise RuntimeError("the marker file asks init to fail")
    services.register_command("T RELOADABLE", lambda ctx, sql: ResultSet(["imports", "marker"], [(IMPORTS, MARKER)]))


@hookimpl
def status_json() -> str:
    return f'{{"imports": {IMPORTS}, "marker": "{MARKER}"}}'  # a JSON text is accepted as well as a dict
