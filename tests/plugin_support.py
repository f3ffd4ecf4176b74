"""Install the example and test plugin distributions so a proxyd subprocess sees their entry points.

Entry points are read from installed distribution metadata, so the plugins must really be
installed into this interpreter's environment. A distribution is installed again only if the
installed copy differs from the source tree, which keeps repeated runs fast.
"""

from __future__ import annotations

import fcntl
import importlib
import importlib.metadata as md
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DISTRIBUTIONS = (
    (REPO / "examples" / "hello-plugin", "proxyd_hello"),
    (REPO / "tests" / "plugin_fixtures", "proxyd_test_plugins"),
    (REPO / "examples" / "rewrite-examples", "proxyd_rewrite_examples"),
)


def _up_to_date(src: Path, package: str) -> bool:
    """Same version installed, and every source file of the package identical to the installed one."""
    meta = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    try:
        dist = md.distribution(meta["name"])
    except md.PackageNotFoundError:
        return False
    if dist.version != meta["version"]:
        return False
    installed = {str(f): f for f in dist.files or ()}
    # entry points changed in pyproject.toml must be picked up too
    want_eps = {(ep.name, ep.value) for ep in _entry_points(meta)}
    have_eps = {(ep.name, ep.value) for ep in dist.entry_points if ep.group == "proxyd.plugins"}
    if want_eps != have_eps:
        return False
    for path in sorted((src / package).rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if rel not in installed or Path(dist.locate_file(installed[rel])).read_bytes() != path.read_bytes():
            return False
    return True


def _entry_points(meta: dict) -> list[md.EntryPoint]:
    group = meta.get("entry-points", {}).get("proxyd.plugins", {})
    return [md.EntryPoint(name, value, "proxyd.plugins") for name, value in group.items()]


def install(src: Path, package: str) -> None:
    if _up_to_date(src, package):
        return
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the repository.
    with tempfile.TemporaryDirectory(prefix="proxyd-plugin-build-") as tmp:
        copy = Path(tmp) / src.name
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(copy)],
                       check=True, capture_output=True, text=True)
    importlib.invalidate_caches()  # this process may import the fresh copy (hookspec coverage test)


@pytest.fixture(scope="session")
def plugin_distributions() -> None:
    """Make ``hello`` and the ``t_*`` test plugins loadable (session-wide, once)."""
    lock_path = Path(tempfile.gettempdir()) / "proxyd-test-plugin-install.lock"
    with open(lock_path, "w") as lock:  # test runs in parallel must not pip-install at the same time
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for src, package in DISTRIBUTIONS:
                try:
                    install(src, package)
                except subprocess.CalledProcessError as exc:
                    pytest.fail(f"pip install {src} failed:\n{exc.stdout}\n{exc.stderr}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
