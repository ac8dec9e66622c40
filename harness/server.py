"""An ASGI app served by uvicorn on a free 127.0.0.1 port, in a background thread.

    with ServerThread(app) as server:
        server.url    # "http://127.0.0.1:PORT"

For a server that the code under test calls (a fake worker server, the real one with chosen
devices) while the test itself blocks. The app's lifespan runs; leaving the block stops it.
"""

from __future__ import annotations

import socket
import threading

import uvicorn
from starlette.types import ASGIApp

from harness.polling import wait_until


class ServerThread:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_config=None, lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="test-server", daemon=True)

    def _started(self) -> bool:
        if not self.thread.is_alive() and not self.server.started:
            raise RuntimeError("the server stopped before it started")
        return self.server.started

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_until(self._started, within=60, what="the server to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
        assert not self.thread.is_alive(), "the server did not stop"
