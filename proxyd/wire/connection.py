"""A mysql-mimic Connection that hands raw SQL to a proxyd frontend and writes full packets.

The frontend (admin port or SQL port) supplies accounts and executes statements; this class only
speaks the protocol. Fixed here, against stock mysql-mimic: a failed login ends the connection
(stock mysql-mimic stays in the command phase), OK packets carry affected rows / insert id /
warnings / info, ERR packets carry the error's own SQLSTATE, no sqlglot runs on the way in.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol, Sequence

from mysql_mimic import packets
from mysql_mimic.charset import CharacterSet
from mysql_mimic.connection import Connection
from mysql_mimic.constants import DEFAULT_SERVER_CAPABILITIES
from mysql_mimic.control import LocalControl
from mysql_mimic.results import ResultColumn
from mysql_mimic.stream import ConnectionClosed, MysqlStream
from mysql_mimic.types import Capabilities, ColumnType, ServerStatus
from mysql_mimic.variables import GlobalVariables, SessionVariables

from proxyd.errors import ProxydError, to_proxyd_error
from proxyd.results import Ok, ResultSet
from proxyd.wire.auth import Account, ProxydIdentityProvider
from proxyd.wire.packets import err_packet, ok_packet

log = logging.getLogger("proxyd.wire")

ADMIN_CAPABILITIES = (DEFAULT_SERVER_CAPABILITIES & ~Capabilities.CLIENT_DEPRECATE_EOF) \
    | Capabilities.CLIENT_MULTI_STATEMENTS | Capabilities.CLIENT_MULTI_RESULTS \
    | Capabilities.CLIENT_SESSION_TRACK | Capabilities.CLIENT_TRANSACTIONS
MORE_RESULTS = ServerStatus.SERVER_MORE_RESULTS_EXISTS


class Frontend(Protocol):
    """What a listener serves: accounts, and statement execution for a session."""

    def lookup_account(self, username: str, host: str) -> Account | None: ...
    def new_session(self, conn: "ProxydConnection", account: Account | None) -> Any: ...
    async def execute(self, session: Any, sql: str) -> Sequence[Ok | ResultSet | ProxydError]: ...
    async def init_db(self, session: Any, schema: str) -> Ok: ...
    def closed(self, session: Any) -> None: ...


class _WireSession:
    """The minimal session object mysql-mimic's Connection expects (charsets, version)."""

    def __init__(self, version: str):
        self.variables = SessionVariables(GlobalVariables())
        self.variables.set("version", version, force=True)
        # mysql-mimic announces its server charset from this: utf8_general_ci (33), as ProxySQL does
        self.variables.set("character_set_results", "utf8", force=True)
        self.username: str | None = None
        self.database: str | None = None

    async def init(self, connection: Connection) -> None:
        pass

    async def close(self) -> None:
        pass

    async def reset(self) -> None:
        pass


class ProxydConnection(Connection):
    def __init__(self, stream: MysqlStream, frontend: Frontend, *, version: str,
                 capabilities: int = ADMIN_CAPABILITIES, status_flags: int = ServerStatus.SERVER_STATUS_AUTOCOMMIT):
        peer = stream.writer.get_extra_info("peername") or ("localhost", 0)
        self.client_host = str(peer[0]) if isinstance(peer, tuple) else "localhost"
        self.client_port = int(peer[1]) if isinstance(peer, tuple) and len(peer) > 1 else 0
        self.provider = ProxydIdentityProvider(frontend.lookup_account, self.client_host)
        super().__init__(stream=stream, session=_WireSession(version), control=LocalControl(),
                         identity_provider=self.provider, server_capabilities=Capabilities(capabilities))
        self.status_flags = ServerStatus(status_flags)
        self.frontend = frontend
        self.proxyd_session: Any = None
        self.command_task: asyncio.Task | None = None

    @property
    def client_address(self) -> str:
        return f"{self.client_host}:{self.client_port}"

    async def _start(self) -> None:
        try:
            await self.connection_phase()
        except (ConnectionClosed, ConnectionError, asyncio.IncompleteReadError):
            return
        if self.session.username is None:  # login refused: the ERR was sent, close
            return
        self.proxyd_session = self.frontend.new_session(self, self.provider.account)
        try:
            await self.command_phase()
        finally:
            self.frontend.closed(self.proxyd_session)

    def error(self, **kwargs: Any) -> bytes:
        """mysql-mimic builds its ERR packets here; a ProxydError keeps its own code and SQLSTATE."""
        msg = kwargs.get("msg")
        if isinstance(msg, ProxydError):
            return err_packet(self.capabilities, msg.code, msg.sqlstate, msg.message)
        code = int(kwargs.get("code", 1105))
        return err_packet(self.capabilities, code, "28000" if code == 1045 else "HY000", str(msg))

    # -- results ----------------------------------------------------------------------------
    def write_error(self, exc: BaseException) -> None:
        err = to_proxyd_error(exc)
        self.stream.write_many([err_packet(self.capabilities, err.code, err.sqlstate, err.message)])

    async def write_results(self, results: Sequence[Ok | ResultSet | ProxydError]) -> None:
        last = len(results) - 1
        for i, res in enumerate(results):
            more = MORE_RESULTS if i < last else 0
            if isinstance(res, ProxydError):
                self.write_error(res)  # an error ends a multi-statement batch
                break
            if isinstance(res, ResultSet):
                self.write_resultset(res, more)
            else:
                self.stream.write_many([ok_packet(self.capabilities, self.status_flags | more,
                                                  res.affected_rows, res.last_insert_id, len(res.warnings), res.info)])
        await self.stream.drain()

    def write_resultset(self, rs: ResultSet, more: int = 0) -> None:
        cols = [ResultColumn(name=str(c), type=ColumnType.VAR_STRING, character_set=CharacterSet.utf8)
                for c in rs.columns]
        pkts = [packets.make_column_count(capabilities=self.capabilities, column_count=len(cols))]
        pkts += [packets.make_column_definition_41(server_charset=self.server_charset, name=c.name,
                                                   column_type=c.type, character_set=c.character_set)
                 for c in cols]
        deprecate_eof = self.deprecate_eof()
        if not deprecate_eof:
            pkts.append(packets.make_eof(capabilities=self.capabilities, status_flags=self.status_flags))
        self.stream.write_many(pkts)
        rows = [[None if v is None else (v if isinstance(v, (bytes, str)) else str(v)) for v in r] for r in rs.rows]
        if rows:
            self.stream.write_text_rows(rows, cols)
        status = self.status_flags | more
        warn = len(rs.warnings)
        if deprecate_eof:
            self.stream.write_many([ok_packet(self.capabilities, status, 0, 0, warn, eof=True)])
        else:
            self.stream.write_many([packets.make_eof(capabilities=self.capabilities, status_flags=status,
                                                     warnings=warn)])

    # -- commands ---------------------------------------------------------------------------
    async def handle_query(self, data: bytes) -> None:
        com_query = packets.parse_com_query(capabilities=self.capabilities, client_charset=self.client_charset,
                                            data=data)
        try:
            results = await self.frontend.execute(self.proxyd_session, com_query.sql)
        except Exception as exc:  # a frontend bug must not kill the connection
            log.exception("statement failed")
            results = [to_proxyd_error(exc)]
        await self.write_results(results)

    async def handle_init_db(self, data: bytes) -> None:
        try:
            res = await self.frontend.init_db(self.proxyd_session, self.client_charset.decode(data))
            await self.write_results([res])
        except Exception as exc:
            self.write_error(exc)
            await self.stream.drain()

    async def handle_stmt_prepare(self, data: bytes) -> None:
        self.write_error(ProxydError("Prepared statements are not supported on this port", 1295, "HY000"))
        await self.stream.drain()


async def serve(host: str, port: int, frontend: Frontend, *, version: str, capabilities: int = ADMIN_CAPABILITIES,
                status_flags: int = ServerStatus.SERVER_STATUS_AUTOCOMMIT,
                connections: set | None = None, connection_class: type | None = None) -> asyncio.base_events.Server:
    """Start a listener; every client gets a ``connection_class`` (default ProxydConnection) on ``frontend``."""
    cls = connection_class or ProxydConnection

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = cls(MysqlStream(reader, writer), frontend, version=version,
                   capabilities=capabilities, status_flags=status_flags)
        if connections is not None:
            connections.add(conn)
        try:
            await conn.start()
        except (ConnectionError, ConnectionClosed, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("connection from %s failed", conn.client_address)
        finally:
            if connections is not None:
                connections.discard(conn)
            writer.close()

    return await asyncio.start_server(on_client, host, port, reuse_address=True)
