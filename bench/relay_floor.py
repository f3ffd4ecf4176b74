"""The floor of any asyncio proxy in CPython: a TCP relay that forwards bytes and does nothing else.

Usage: python bench/relay_floor.py LISTEN_PORT TARGET_HOST TARGET_PORT

Each accepted client gets one connection to the target; bytes go through unchanged in both
directions (so MySQL authentication, results and errors are the server's own). It parses nothing,
keeps no state and runs on uvloop like proxyd: whatever throughput it loses against a direct
connection is the cost of one Python process and two extra loopback hops, which no Python proxy
that looks at the statements can beat. bench/sysbench_compare.py runs it next to proxyd.
"""

from __future__ import annotations

import asyncio
import sys


class _Pipe(asyncio.Protocol):
    """One direction's receiver: writes what it receives to the peer's transport."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: asyncio.Transport | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.pending.append(data)  # the client spoke before the server connection was up
        else:
            self.peer.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.close()

    def attach(self, peer: asyncio.Transport) -> None:
        self.peer = peer
        for chunk in self.pending:
            peer.write(chunk)
        self.pending.clear()


async def main(listen_port: int, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()

    def client_side() -> _Pipe:
        pipe = _Pipe()

        async def connect() -> None:
            try:
                server_transport, server_pipe = await loop.create_connection(_Pipe, host, port)
            except OSError:
                if pipe.transport is not None:
                    pipe.transport.close()
                return
            server_pipe.attach(pipe.transport)
            pipe.attach(server_transport)

        loop.create_task(connect())
        return pipe

    server = await loop.create_server(client_side, "127.0.0.1", listen_port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
