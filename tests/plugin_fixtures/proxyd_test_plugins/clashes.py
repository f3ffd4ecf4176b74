"""Plugins whose registrations collide with the core's or with t_owner's."""

from __future__ import annotations

from typing import Any

from proxyd.hookspecs import hookimpl
from proxyd.results import Ok


class Registrar:
    PROXYD_ABI = ">=1.0,<2"
    tables: tuple[tuple[str, str, str], ...] = ()  # (db kind, name, DDL)
    commands: tuple[str, ...] = ()

    @hookimpl
    def init(self, services: Any) -> None:
        for kind, name, ddl in self.tables:
            services.register_table(kind, name, ddl)
        for sql in self.commands:
            services.register_command(sql, lambda ctx, sql: Ok(info=f"{type(self).__name__} answered"))


SHARED_DDL = "CREATE TABLE stats_t_shared (k VARCHAR PRIMARY KEY, v INT)"


class Owner(Registrar):
    tables = (("stats", "stats_t_shared", SHARED_DDL),)
    commands = ("T SHARED COMMAND",)


class CoreTableClash(Registrar):
    tables = (("admin", "mysql_servers", "CREATE TABLE mysql_servers (x INT)"),)


class CoreCommandClash(Registrar):
    commands = ("SHOW PLUGINS",)


class TableClash(Registrar):
    tables = (("stats", "STATS_T_SHARED", SHARED_DDL.replace("stats_t_shared", "STATS_T_SHARED")),)


class CommandClash(Registrar):
    commands = ("t   shared\tcommand ;",)  # same canonical form as Owner's
