"""proxyd-hello: a small plugin that touches every part of the plugin API.

What it adds to the admin port:

* ``hello_greetings``: a tiered table (DISK / MEMORY / RUNTIME) with the whole generated family,
  ``LOAD HELLO GREETINGS TO RUNTIME``, ``SAVE HELLO GREETINGS TO DISK``, ``CHECKSUM HELLO GREETINGS``…,
  seeded from the cnf section ``hello_greetings`` on first boot;
* ``hello-punctuation``: a global variable with a check, and so the ``HELLO VARIABLES`` family;
* ``HELLO GREET <name>``: a command whose answer is built from the runtime state;
* ``stats.stats_hello``: greets served per name, refilled whenever a statement reads it.
"""

from __future__ import annotations

from collections import Counter
from types import MappingProxyType
from typing import Any, Mapping

from proxyd.errors import ProxydError
from proxyd.hookspecs import hookimpl
from proxyd.results import ResultSet
from proxyd.tiers import TieredObject

GREETINGS_DDL = """CREATE TABLE hello_greetings (
    name VARCHAR NOT NULL PRIMARY KEY,
    greeting VARCHAR NOT NULL DEFAULT 'hello')"""

STATS_DDL = """CREATE TABLE stats_hello (
    name VARCHAR NOT NULL PRIMARY KEY,
    greets INT NOT NULL)"""

Rows = dict[str, list[dict[str, Any]]]


def check_punctuation(value: str) -> str:
    """Variable check: return the normalized value, or raise ValueError saying what is wrong."""
    value = value.strip()
    if len(value) > 3 or set(value) - set(".!?"):
        raise ValueError("use at most three of . ! ?")
    return value


class HelloPlugin:
    """The entry point names this class; the host makes one instance per load."""

    PROXYD_ABI = ">=1.0,<2"
    PROXYD_REQUIRES: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.services: Any = None
        # The RUNTIME tier: an immutable mapping, replaced whole by a successful load, so a
        # command never sees half of one and a refused load leaves the old one in place.
        self.greetings: Mapping[str, str] = MappingProxyType({})
        self.greets: Counter[str] = Counter()

    # -- lifecycle hooks ------------------------------------------------------------------------
    @hookimpl
    def init(self, services: Any) -> None:
        self.services = services
        services.register_tiered_object(TieredObject(
            name="HELLO GREETINGS",
            tables=[("hello_greetings", GREETINGS_DDL)],
            load_to_runtime=self.load_greetings,
            save_from_runtime=self.save_greetings,
            cnf_section="hello_greetings",
        ))
        services.register_variable("hello-punctuation", "!", check=check_punctuation,
                                   doc="appended to every greeting")
        services.register_command("HELLO GREET", self.greet, prefix=True)
        services.register_table("stats", "stats_hello", STATS_DDL, refresh=self.refresh_stats)

    @hookimpl
    def start(self) -> None:
        self.services.log_message(6, f"{len(self.greetings)} greetings at runtime")

    @hookimpl
    def stop(self) -> None:
        self.services.log_message(6, f"stopping after {sum(self.greets.values())} greets")

    @hookimpl
    def status_json(self) -> dict[str, int]:
        return {"greetings": len(self.greetings), "greets_served": sum(self.greets.values())}

    # -- the tiered object's callbacks ----------------------------------------------------------
    def load_greetings(self, rows: Rows) -> None:
        """MEMORY -> RUNTIME: validate every row first; raising keeps the old runtime."""
        new: dict[str, str] = {}
        for row in rows["hello_greetings"]:
            if not str(row["greeting"]).strip():
                raise ValueError(f"hello_greetings row '{row['name']}': empty greeting")
            new[row["name"]] = row["greeting"]
        self.greetings = MappingProxyType(new)

    def save_greetings(self) -> Rows:
        """RUNTIME -> MEMORY (and the runtime_hello_greetings projection)."""
        return {"hello_greetings": [{"name": n, "greeting": g} for n, g in sorted(self.greetings.items())]}

    # -- command and stats ----------------------------------------------------------------------
    def greet(self, ctx: Any, sql: str) -> ResultSet:
        """``HELLO GREET <name>``: ``ctx.args`` is the untouched text after the prefix."""
        name = ctx.args.strip().strip("'\"`")
        if not name:
            raise ProxydError("usage: HELLO GREET <name>", 1064, "42000")
        greeting = self.greetings.get(name)
        if greeting is None:
            raise ProxydError(f"no greeting for '{name}' at runtime "
                              "(INSERT INTO hello_greetings, then LOAD HELLO GREETINGS TO RUNTIME)")
        self.greets[name] += 1
        punctuation = self.services.get_variable("hello-punctuation")  # the runtime value
        return ResultSet(["name", "message"], [(name, f"{greeting}, {name}{punctuation}")])

    def refresh_stats(self) -> None:
        """Called just before an admin statement that names stats_hello."""
        db = self.services.stats_db
        db.execute("DELETE FROM stats.stats_hello")
        for name, count in sorted(self.greets.items()):
            db.execute("INSERT INTO stats.stats_hello VALUES (?, ?)", (name, count))
