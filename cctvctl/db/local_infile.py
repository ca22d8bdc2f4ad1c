"""``LOAD DATA LOCAL INFILE`` that can only ever send the file cctvctl itself wrote for it.

PyMySQL, as shipped, answers a server's LOCAL INFILE request by sending whatever path the
server names, so a hostile or compromised server could read any file the user can read. We wrap
PyMySQL's sender once: a request is served only when it names exactly the temporary file that
``allow(conn, path)`` registered for the statement being run on that connection; anything else
is refused (the server receives an empty file and we raise).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_ATTR = "_cctvctl_allowed_local_file"
_lock = threading.Lock()
_installed = False


from cctvctl.errors import DatabaseError


class LocalInfileRefused(DatabaseError):
    """The server asked for a file that cctvctl did not offer."""


def supported() -> bool:
    """True when this PyMySQL exposes the sender we guard (else bulk loading stays off)."""
    try:
        import pymysql.connections as connections
    except ImportError:
        return False
    return callable(getattr(connections, "_send_local_file", None))


def install_guard() -> bool:
    """Wrap PyMySQL's LOCAL INFILE sender (idempotent). Returns whether bulk loading may be used."""
    global _installed
    if not supported():
        return False
    import pymysql.connections as connections

    with _lock:
        if _installed:
            return True
        original = connections._send_local_file

        def guarded_send_local_file(filename, conn):
            allowed = getattr(conn, _ATTR, None)
            if isinstance(filename, bytes):
                filename = filename.decode("utf-8", "surrogateescape")
            if allowed is None or filename != allowed:
                raise LocalInfileRefused(
                    f"refused the server's request for local file {filename!r}: cctvctl only sends "
                    "the file it wrote for its own LOAD DATA statement")
            return original(filename, conn)

        connections._send_local_file = guarded_send_local_file
        _installed = True
    return True


@contextmanager
def allow(conn, path: str) -> Iterator[None]:
    """Let ``conn`` send exactly ``path`` while the block runs."""
    setattr(conn, _ATTR, path)
    try:
        yield
    finally:
        setattr(conn, _ATTR, None)
