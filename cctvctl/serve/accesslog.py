"""One JSON line per request: who (the token's name, never its secret), what, how long.

Only the path is logged, not the query string or headers: nothing a client sends as a secret
can reach the log. JSON with ASCII escapes keeps hostile paths from forging lines.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TextIO


class AccessLog:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def write(self, request, status: int, seconds: float) -> None:
        client = request.client.host if request.client else None
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "client": client, "method": request.method,
                           "path": request.url.path[:256], "status": status,
                           "ms": round(seconds * 1000, 1),
                           "token": getattr(request.state, "token_name", None)},
                          ensure_ascii=True)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()
