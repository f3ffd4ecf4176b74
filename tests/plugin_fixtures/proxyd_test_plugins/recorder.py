"""Class-based plugins that append ``name:hook`` lines to the file named by $PROXYD_TEST_RECORD.

The lines let a test assert the order of init/start/stop across plugins, that ``stop()`` ran
exactly once per successful ``init`` and never for a plugin whose ``init`` failed.
"""

from __future__ import annotations

import os
from typing import Any

from proxyd.hookspecs import hookimpl


def record(name: str, hook: str) -> None:
    path = os.environ.get("PROXYD_TEST_RECORD")
    if path:
        with open(path, "a") as f:  # one short append per line: safe enough for one process
            f.write(f"{name}:{hook}\n")


class Recorder:
    PROXYD_ABI = ">=1.0,<2"
    PROXYD_REQUIRES: tuple[str, ...] = ()
    NAME = "t_recorder"
    # what init/start do after recording: None (succeed), False (return False) or an exception
    init_result: Any = None
    start_result: Any = None

    def _finish(self, outcome: Any) -> Any:
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    @hookimpl
    def init(self, services: Any) -> Any:
        record(self.NAME, "init")
        return self._finish(self.init_result)

    @hookimpl
    def start(self) -> Any:
        record(self.NAME, "start")
        return self._finish(self.start_result)

    @hookimpl
    def stop(self) -> None:
        record(self.NAME, "stop")


class RecA(Recorder):
    NAME = "t_rec_a"


class RecB(Recorder):
    NAME = "t_rec_b"


class RecC(Recorder):
    NAME = "t_rec_c"


class NeedsA(Recorder):
    NAME = "t_needs_a"
    PROXYD_REQUIRES = ("t_rec_a",)


class InitFalse(Recorder):
    NAME = "t_init_false"
    init_result = False


class InitRaise(Recorder):
    NAME = "t_init_raise"
    init_result = RuntimeError("init exploded on purpose")


class StartFalse(Recorder):
    NAME = "t_start_false"
    start_result = False


class StartRaise(Recorder):
    NAME = "t_start_raise"
    start_result = RuntimeError("start exploded on purpose")


class RequiresMissing(Recorder):
    NAME = "t_requires_missing"
    PROXYD_REQUIRES = ("t_absent",)


class CycleX(Recorder):
    NAME = "t_cycle_x"
    PROXYD_REQUIRES = ("t_cycle_y",)


class CycleY(Recorder):
    NAME = "t_cycle_y"
    PROXYD_REQUIRES = ("t_cycle_x",)
