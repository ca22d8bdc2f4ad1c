"""The HTTP edge of ``cctvctl serve``: one error shape, and every request guarded.

Errors have one shape, ``{"error": {"code": "...", "message": "..."}}`` (``problems`` added for
refused rows); a library error becomes its HTTP status, never a traceback; every request is one
access-log line.
"""

from __future__ import annotations

import sys
import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from cctvctl.errors import CctvError, CountFileError, DatabaseError, LockTimeout, UsageError
from cctvctl.serve.accesslog import AccessLog
from cctvctl.serve.wording import for_http


class ApiError(Exception):
    """An answer other than 2xx, with the stable error shape."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict | None = None,
                 problems: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.problems = problems


class ScopeDenied(CctvError):
    """A device token posted a camera outside its patterns: the whole batch is refused."""

    exit_code = 2


def error_response(err: ApiError) -> JSONResponse:
    body = {"error": {"code": err.code, "message": err.message}}
    if err.problems is not None:
        body["error"]["problems"] = err.problems
    return JSONResponse(body, status_code=err.status, headers=err.headers)


def guarded(handler, log: AccessLog | None):
    """Errors → the stable JSON shape; every request → one access-log line (no secrets)."""
    async def endpoint(request: Request):
        started = time.monotonic()
        request.state.token_name = None
        try:
            response = await handler(request)
        except ApiError as err:
            response = error_response(err)
        except CountFileError as err:
            response = error_response(ApiError(422, "rejected", for_http(str(err)),
                                               problems=[for_http(str(p)) for p in err.problems]))
        except ScopeDenied as err:
            response = error_response(ApiError(403, "forbidden", str(err)))
        except UsageError as err:
            response = error_response(ApiError(400, "bad_request", for_http(str(err))))
        except LockTimeout as err:  # its text names the database and the holder: operator's log
            sys.stderr.write(f"serve: busy: {err}\n")
            response = error_response(ApiError(503, "busy", "another import is running; retry later",
                                               headers={"Retry-After": "5"}))
        except DatabaseError:
            response = error_response(ApiError(503, "database_unavailable",
                                               "the database is unavailable; retry later",
                                               headers={"Retry-After": "5"}))
        except CctvError as err:
            response = error_response(ApiError(500, "failed", for_http(str(err))))
        except Exception as exc:  # never a traceback to the client; the operator's log says where
            log_internal(exc)
            response = error_response(ApiError(500, "internal", "internal error"))
        if log is not None:
            log.write(request, response.status_code, time.monotonic() - started)
        return response
    return endpoint


async def not_found(request: Request, exc):
    return error_response(ApiError(404, "not_found", "no such endpoint"))


async def not_allowed(request: Request, exc):
    return error_response(ApiError(405, "method_not_allowed", "method not allowed here"))


def log_internal(exc: BaseException) -> None:
    """Where an unexpected error happened (type and innermost frame, never its text: it may
    quote a request's content), so an operator can tell a bug from a bad request."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    sys.stderr.write(f"serve: internal error {type(exc).__name__}{where}\n")
