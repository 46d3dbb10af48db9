"""A loopback TCP forwarder that can be cut and restored: a server outage for one client only.

``with TcpProxy(host, port) as proxy:`` listens on ``proxy.port`` (below 32768) and forwards
each connection to ``host:port``. ``proxy.cut()`` closes every forwarded connection and stops
listening, so clients see their connection drop and new ones refused, exactly as when the
server stops; ``proxy.restore()`` listens on the same port again. The shared server itself
never stops, so nothing else running against it notices.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

from tests.support.ports import free_low_port


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to a target until cut."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_low_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> None:
        """Listen (again) and forward new connections."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Drop every forwarded connection and refuse new ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)  # shutdown first: a close alone leaves the blocked accept() listening
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cut()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    _close(source)
    _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
