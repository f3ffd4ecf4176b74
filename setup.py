"""Build hook for proxyd's optional C accelerators.

Everything else lives in pyproject.toml. Any C file named ``_native_*.c`` under ``proxyd/`` or
``plugins/`` becomes an extension module of the same dotted name (``proxyd/_native_wire.c`` ->
``proxyd._native_wire``). Each one is optional: without a C compiler or Python headers the build
warns and the pure-Python code paths are used instead, so installing never fails for want of a
compiler. ``PROXYD_NO_NATIVE=1`` in the environment makes a daemon ignore built accelerators.
"""

from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent


def native_extensions() -> list[Extension]:
    sources = sorted(ROOT.glob("proxyd/**/_native_*.c")) + sorted(ROOT.glob("plugins/**/_native_*.c"))
    return [
        Extension(
            ".".join(src.relative_to(ROOT).with_suffix("").parts),
            [str(src.relative_to(ROOT))],
            optional=True,
            extra_compile_args=["-O2", "-std=c11", "-Wall"],
        )
        for src in sources
    ]


setup(ext_modules=native_extensions())
