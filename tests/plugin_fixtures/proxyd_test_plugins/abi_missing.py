"""Declares no PROXYD_ABI."""

from proxyd.hookspecs import hookimpl


@hookimpl
def init(services):
    raise AssertionError("init must not run without an ABI requirement")
