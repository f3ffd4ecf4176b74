"""Needs a host ABI proxyd does not provide: refused before init."""

from proxyd.hookspecs import hookimpl

PROXYD_ABI = ">=2.0,<3"


@hookimpl
def init(services):
    raise AssertionError("init must not run for an ABI mismatch")
