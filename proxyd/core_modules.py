"""The core's tiered modules: MYSQL SERVERS, MYSQL USERS, MYSQL VARIABLES, ADMIN VARIABLES."""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Callable

from proxyd import schema
from proxyd.snapshots import Snapshot
from proxyd.tiers import Rows, TableModule, TieredObject, VariablesModule

if TYPE_CHECKING:
    from proxyd.store import AdminStore
    from proxyd.variables import VariableRegistry

SERVER_COLS = ["hostgroup_id", "hostname", "port", "gtid_port", "status", "weight", "compression",
               "max_connections", "max_replication_lag", "use_ssl", "max_latency_ms", "comment"]
USER_COLS = ["username", "password", "active", "use_ssl", "default_hostgroup", "default_schema",
             "schema_locked", "transaction_persistent", "fast_forward", "backend", "frontend",
             "max_connections", "attributes", "comment"]
GR_COLS = ["writer_hostgroup", "backup_writer_hostgroup", "reader_hostgroup", "offline_hostgroup", "active",
           "max_writers", "writer_is_also_reader", "max_transactions_behind", "comment"]


class CoreRuntime:
    """The live runtime of the core modules; listeners learn about each swap."""

    def __init__(self) -> None:
        self.servers = Snapshot(tuple(SERVER_COLS), ())
        self.group_replication_hostgroups = Snapshot(tuple(GR_COLS), ())
        self.users = Snapshot(tuple(USER_COLS), ())  # one row per active user
        self.users_by_name: dict[str, dict] = {}
        self.listeners: list[Callable[[str], None]] = []

    def _notify(self, what: str) -> None:
        for fn in list(self.listeners):
            fn(what)

    # MYSQL SERVERS -----------------------------------------------------------------------
    def load_servers(self, rows: Rows) -> None:
        servers = rows["mysql_servers"]
        for r in servers:
            if not str(r["hostname"]).strip():
                raise ValueError(f"mysql_servers row (hostgroup {r['hostgroup_id']}): empty hostname")
            r["status"] = str(r["status"]).upper()
        gr = rows["mysql_group_replication_hostgroups"]
        writers = {r["writer_hostgroup"] for r in gr}
        for r in gr:
            others = {r["backup_writer_hostgroup"], r["reader_hostgroup"], r["offline_hostgroup"]}
            clash = others & (writers - {r["writer_hostgroup"]})
            if clash:
                raise ValueError(f"mysql_group_replication_hostgroups writer {r['writer_hostgroup']}: hostgroup "
                                 f"{sorted(clash)[0]} is another group's writer hostgroup")
        servers.sort(key=itemgetter("hostgroup_id", "hostname", "port"))
        # Build both before publishing either, so a reader never sees a half-loaded pair.
        new_servers = Snapshot.from_dicts(SERVER_COLS, servers)
        new_gr = Snapshot.from_dicts(GR_COLS, sorted(gr, key=lambda r: r["writer_hostgroup"]))
        self.servers, self.group_replication_hostgroups = new_servers, new_gr
        self._notify("servers")

    def save_servers(self) -> Rows:
        return {"mysql_servers": self.servers.as_dicts(),
                "mysql_group_replication_hostgroups": self.group_replication_hostgroups.as_dicts()}

    # MYSQL USERS -------------------------------------------------------------------------
    def load_users(self, rows: Rows) -> None:
        by_name: dict[str, dict] = {}
        for r in rows["mysql_users"]:
            if not r["active"]:
                continue
            if not str(r["username"]).strip():
                raise ValueError("mysql_users row with an empty username")
            merged = by_name.setdefault(r["username"], dict(r, frontend=0, backend=0))
            merged["frontend"] |= r["frontend"]
            merged["backend"] |= r["backend"]
            if r["frontend"]:  # the frontend row decides how clients log in
                merged.update({k: v for k, v in r.items() if k not in ("frontend", "backend")})
        users = [dict(u, frontend=1, backend=1) for _, u in sorted(by_name.items())]
        self.users = Snapshot.from_dicts(USER_COLS, users)
        self.users_by_name = {u["username"]: u for u in users}
        self._notify("users")

    def save_users(self) -> Rows:
        return {"mysql_users": self.users.as_dicts()}

    def runtime_users(self) -> Rows:
        """runtime_mysql_users lists every user twice: a frontend row and a backend row."""
        out = []
        for u in self.users.as_dicts():
            out.append(dict(u, backend=0, frontend=1))
            out.append(dict(u, backend=1, frontend=0))
        return {"mysql_users": out}

    def users_to_memory(self, store: "AdminStore", rows: Rows) -> int:
        users = self.runtime_users()["mysql_users"]
        if not users:
            return 0
        store.execute("UPDATE main.mysql_users SET active=0")
        return store.insert_rows("main", "mysql_users", USER_COLS, [[u.get(c) for c in USER_COLS] for u in users],
                                 verb="INSERT OR REPLACE")


def core_modules(runtime: CoreRuntime, variables: "VariableRegistry") -> list:
    servers = TieredObject(
        name="MYSQL SERVERS",
        tables=[("mysql_servers", schema.MYSQL_SERVERS),
                ("mysql_group_replication_hostgroups", schema.MYSQL_GROUP_REPLICATION_HOSTGROUPS)],
        load_to_runtime=runtime.load_servers, save_from_runtime=runtime.save_servers,
        cnf_section={"mysql_servers": "mysql_servers",
                     "mysql_group_replication_hostgroups": "mysql_group_replication_hostgroups"})
    users = TieredObject(
        name="MYSQL USERS", tables=[("mysql_users", schema.MYSQL_USERS)],
        load_to_runtime=runtime.load_users, save_from_runtime=runtime.save_users,
        runtime_rows=runtime.runtime_users, save_to_memory=runtime.users_to_memory, cnf_section="mysql_users")
    return [servers, users, VariablesModule("mysql", variables, "core"), VariablesModule("admin", variables, "core")]


def as_modules(objs: list, owner: str = "core") -> list:
    return [TableModule(o, owner) if isinstance(o, TieredObject) else o for o in objs]
