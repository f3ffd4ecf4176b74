"""PROXYD_ABI is not a version requirement at all."""

from proxyd.hookspecs import hookimpl

PROXYD_ABI = "version one, please"


@hookimpl
def init(services):
    raise AssertionError("init must not run for an invalid ABI requirement")
