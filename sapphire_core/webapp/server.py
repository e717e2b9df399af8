"""Running the app with uvicorn: on loopback by default, in the foreground or in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Loopback only unless the operator asks otherwise: a listening test is not a public service.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def make_server(app: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, log_level: str = "warning"):
    """A ``uvicorn.Server`` for ``app`` (not started).

    The h11 protocol is chosen explicitly, with a request-head buffer of
    :data:`~sapphire_core.webapp.limits.MAX_HEAD_READ_BYTES`: uvicorn's default (16 KiB) resets the
    connection on a larger URL or header, whereas this way the app reads it and answers 414 or 431
    (see :mod:`sapphire_core.webapp.limits`).
    """
    import uvicorn

    from sapphire_core.webapp.limits import MAX_HEAD_READ_BYTES

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
                            server_header=False, limit_concurrency=200, timeout_keep_alive=10, http="h11",
                            h11_max_incomplete_event_size=MAX_HEAD_READ_BYTES)
    return uvicorn.Server(config)


@contextmanager
def serve_in_thread(app: Any, *, host: str = DEFAULT_HOST, startup_timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` on a free port of ``host`` in a daemon thread; yields the base URL.

    The socket is bound before the thread starts, so the port is known and cannot be taken.

    Raises
    ------
    RuntimeError
        When the server does not start within ``startup_timeout`` seconds.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = make_server(app, host=host, port=port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="sapphire-web")
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the web server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
