"""Which backend serves a client: chosen once per session from the user's ``default_hostgroup``.

* A hostgroup with a server whose hostname is ``embedded`` is served by the embedded SQLite engine
  (if a hostgroup also lists real servers, ``embedded`` wins: it is how a cnf says "this one is local").
* Any other hostgroup goes to the mysql backend. A hostgroup without servers still gets a
  :class:`~proxyd.backends.mysql.MysqlSession`, whose statements fail with a 9001 error naming the
  hostgroup (the servers may be loaded later: the session looks them up per statement).
* With no ``mysql_servers`` rows at all, everything goes to the embedded engine, so that proxyd
  serves out of the box with nothing configured (design §5).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from proxyd.backends.mysql import EMBEDDED_HOSTNAME
from proxyd.errors import ProxydError

if TYPE_CHECKING:
    from proxyd.backends.embedded import EmbeddedEngine
    from proxyd.backends.mysql import MysqlBackend
    from proxyd.core import Core

log = logging.getLogger("proxyd.sql")

_CLIENT_FOUND_ROWS = 1 << 1
_CLIENT_DEPRECATE_EOF = 1 << 24  # result sets end with an OK packet instead of EOF


class Backends:
    def __init__(self, core: "Core", embedded_engine: "EmbeddedEngine", mysql_backend: "MysqlBackend | None"):
        self.core, self.embedded, self.mysql = core, embedded_engine, mysql_backend
        self._snapshot: Any = None
        self._embedded_hgs: frozenset[int] = frozenset()
        self._no_servers = True

    def _refresh(self) -> None:
        snap = self.core.runtime.servers
        if snap is self._snapshot:  # one identity check per new session; recomputed after a LOAD
            return
        cols = snap.columns
        hg_i, host_i = cols.index("hostgroup_id"), cols.index("hostname")
        self._embedded_hgs = frozenset(int(r[hg_i]) for r in snap.rows if r[host_i] == EMBEDDED_HOSTNAME)
        self._no_servers = not snap.rows
        self._snapshot = snap

    def is_embedded(self, hostgroup: int) -> bool:
        self._refresh()
        return self._no_servers or hostgroup in self._embedded_hgs or self.mysql is None

    def session_for(self, user_row: dict, schema: str | None, *, client_flags: int = 0,
                    connection_id: int | None = None) -> Any:
        """A backend session for a client of ``user_row`` (a runtime mysql_users row) starting in
        ``schema``. On the embedded engine an unknown schema is logged and the session starts
        without one; on MySQL the schema is checked by the server on the first statement."""
        hostgroup = int(user_row.get("default_hostgroup") or 0)
        if self.is_embedded(hostgroup):
            session = self.embedded.session(None, connection_id=connection_id)
            if schema:
                try:
                    session.use(schema)
                except ProxydError:
                    log.info("user %s: default schema '%s' does not exist", user_row.get("username"), schema)
            return session
        assert self.mysql is not None
        return self.mysql.session(user_row, hostgroup, schema, found_rows=bool(client_flags & _CLIENT_FOUND_ROWS),
                                  deprecate_eof=bool(client_flags & _CLIENT_DEPRECATE_EOF))
