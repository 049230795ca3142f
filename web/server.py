"""The uvicorn server `careloop serve` runs: it says when it is ready."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn


class ReadyServer(uvicorn.Server):
    """A uvicorn server that calls ``on_ready(port)`` once it answers requests: after the
    app's startup (the models loaded, the scheduler and the channels started) and with its
    socket bound, not before."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[int], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            bound = [s.getsockname() for server in self.servers for s in server.sockets]
            self.on_ready(int(bound[0][1]) if bound else self.config.port)
