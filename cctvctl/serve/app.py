"""The HTTP API of ``cctvctl serve``: a thin layer over the same library as the CLI.

Every endpoint authenticates a device token (except ``/healthz``), checks its scope, calls one
library function in a worker thread (:mod:`cctvctl.serve.work`) and answers JSON. Parameters
are read by :mod:`cctvctl.serve.params`; errors and the access log are
:mod:`cctvctl.serve.errors`.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cctvctl import tokens
from cctvctl.db import connect
from cctvctl.errors import CctvError, DatabaseError
from cctvctl.serve import work
from cctvctl.serve.accesslog import AccessLog
from cctvctl.serve.errors import ApiError, guarded, not_allowed, not_found
from cctvctl.serve.params import alert_window, dark_after, days, episode_key, boolean, json_rows, layout_of
from cctvctl.serve.ratelimit import RateLimiter

API_VERSION = "v1"
CSV_TYPES = ("text/csv", "text/plain", "application/csv")
JSON_TYPES = ("application/json",)


@dataclass
class ServeConfig:
    db_url: str
    tz: ZoneInfo
    max_body: int = 10 * 1024 * 1024  # bytes
    body_timeout: float = 30.0  # seconds to receive a whole body (slow clients)
    rate: float = 10.0  # requests per second per token
    burst: int = 20
    access_log: AccessLog | None = None
    #: batches waiting for or holding the import lock at once; more get 503 busy at once, so
    #: waiting posts never take every worker thread (reads and /healthz keep answering)
    max_pending_batches: int = 8
    lock_wait: float = 10.0  # seconds a batch waits for another import before 503 busy


class Databases:
    """One connection per worker thread, reopened after a failure (SQLite connections belong to
    their thread; a MySQL connect costs a TLS handshake, so it is kept)."""

    def __init__(self, url: str):
        self.url = url
        self.local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()
        connect(url).close()  # migrate once, at start-up, in the main thread

    def get(self):
        db = getattr(self.local, "db", None)
        if db is None:
            db = self.local.db = connect(self.url)
            with self._lock:
                self._all.append(db)
        return db

    def drop(self) -> None:
        db = getattr(self.local, "db", None)
        self.local.db = None
        if db is not None:
            try:
                db.close()
            except Exception:
                pass

    def close_all(self) -> None:
        with self._lock:
            for db in self._all:
                try:
                    db.close()
                except Exception:
                    pass
            self._all.clear()


def create_app(config: ServeConfig) -> Starlette:
    dbs = Databases(config.db_url)
    limiter = RateLimiter(config.rate, config.burst)
    log = config.access_log
    batches = threading.BoundedSemaphore(config.max_pending_batches)

    def in_db(fn, *args):
        """Run ``fn(db, *args)`` in this worker thread's connection; a dead connection is
        dropped so the next request reconnects."""
        db = dbs.get()
        try:
            return fn(db, *args)
        except DatabaseError:
            dbs.drop()
            raise

    def stored_zone(db) -> ZoneInfo:
        """The database's zone now: ``db set-zone`` while serving changes what requests use
        (the zone given at start-up only stands in while the database has none)."""
        from cctvctl.zone import load_zone, stored_zone as recorded

        name, _ = recorded(db)
        return config.tz if name is None else load_zone(name)

    async def zone() -> ZoneInfo:
        return await run_in_threadpool(in_db, stored_zone)

    async def authenticate(request: Request, need: str) -> tokens.Token:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>",
                           headers={"WWW-Authenticate": 'Bearer realm="cctvctl"'})
        token = await run_in_threadpool(in_db, tokens.verify, secret.strip())
        if token is None:
            raise ApiError(401, "unauthenticated", "unknown or revoked token",
                           headers={"WWW-Authenticate": 'Bearer realm="cctvctl", error="invalid_token"'})
        request.state.token_name = token.name
        wait = limiter.take(token.id)
        if wait > 0:
            raise ApiError(429, "rate_limited", f"too many requests for token {token.name!r}",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})
        if need == "write" and not token.can_write:
            raise ApiError(403, "forbidden", "this token may not post counts")
        if need == "read" and not token.can_read:
            raise ApiError(403, "forbidden", "this token may not read (create it with --read)")
        await run_in_threadpool(in_db, tokens.touch, token)
        return token

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise ApiError(400, "bad_request", "Content-Length is not a number")
            if int(declared) > config.max_body:
                raise ApiError(413, "too_large", f"the body is larger than {config.max_body} bytes "
                               "(split the batch)")
        chunks, size = [], 0
        import anyio

        try:
            with anyio.fail_after(config.body_timeout):
                async for part in request.stream():
                    size += len(part)
                    if size > config.max_body:
                        raise ApiError(413, "too_large", f"the body is larger than "
                                       f"{config.max_body} bytes (split the batch)")
                    chunks.append(part)
        except TimeoutError:
            raise ApiError(408, "timeout", f"the body did not arrive within "
                           f"{config.body_timeout:g} s") from None
        return b"".join(chunks)

    async def post_counts(request: Request):
        token = await authenticate(request, "write")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in CSV_TYPES + JSON_TYPES:
            raise ApiError(415, "unsupported_media_type",
                           "send text/csv (a count file) or application/json (a list of rows)")
        q = request.query_params
        on_error = q.get("on_error", "reject")
        if on_error not in ("reject", "skip"):
            raise ApiError(400, "bad_request", "on_error must be reject or skip")
        replace = boolean(q.get("replace", "false"), "replace")
        interval = q.get("interval")
        layout = layout_of(q)
        body = await read_body(request)
        rows = None
        if kind in JSON_TYPES:
            rows = json_rows(body)
        if not batches.acquire(blocking=False):
            raise ApiError(503, "busy", "too many batches are waiting for the database; retry later",
                           headers={"Retry-After": "2"})
        try:
            return JSONResponse(await run_in_threadpool(
                in_db, work.import_batch, token, await zone(), body, rows, on_error, replace, interval,
                {**layout, "lock_timeout": config.lock_wait}))
        finally:
            batches.release()

    async def get_outliers(request: Request):
        token = await authenticate(request, "read")
        q = request.query_params
        tz = await zone()
        since, until = days(q, tz)
        cameras = work.readable(token, q.getlist("camera"))
        episodes = boolean(q.get("episodes", "false"), "episodes")
        return JSONResponse(await run_in_threadpool(in_db, work.outliers, token, tz, since,
                                                    until, cameras, episodes))

    async def get_alerts(request: Request):
        token = await authenticate(request, "read")
        q = request.query_params
        consumer = q.get("consumer", "")
        tz = await zone()
        since, now = alert_window(q, tz)
        dark = dark_after(q.get("dark_after", "3"))
        return JSONResponse(await run_in_threadpool(in_db, work.pending_alerts, token, tz,
                                                    consumer, since, now, dark))

    async def ack_alerts(request: Request):
        token = await authenticate(request, "read")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() not in JSON_TYPES:
            raise ApiError(415, "unsupported_media_type", "send application/json")
        try:
            payload = json.loads(await read_body(request))
            consumer = str(payload["consumer"])
            keys = [episode_key(e) for e in payload["episodes"]]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise ApiError(400, "bad_request", 'send {"consumer": NAME, "episodes": [{"camera", '
                           '"metric", "kind", "start_utc"}, …]}') from None
        marked = await run_in_threadpool(in_db, work.ack, token, await zone(), consumer, keys)
        return JSONResponse({"consumer": consumer, "marked": marked})

    async def get_report(request: Request):
        token = await authenticate(request, "read")
        q = request.query_params
        given = [(g, q[g]) for g in ("day", "week", "month", "year") if q.get(g)]
        if len(given) != 1:
            raise ApiError(400, "bad_request", "give exactly one of day, week, month or year")
        compare = q.get("compare", "previous")
        text = await run_in_threadpool(in_db, work.report, token, await zone(), given[0], compare)
        return Response(text, media_type="application/json")

    async def get_status(request: Request):
        token = await authenticate(request, "read")
        return JSONResponse(await run_in_threadpool(in_db, work.status, token, await zone()))

    async def healthz(request: Request):
        try:
            await run_in_threadpool(in_db, lambda db: db.scalar("SELECT 1"))
        except CctvError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/v1/counts", guarded(post_counts, log), methods=["POST"]),
        Route("/v1/outliers", guarded(get_outliers, log), methods=["GET"]),
        Route("/v1/alerts", guarded(get_alerts, log), methods=["GET"]),
        Route("/v1/alerts/ack", guarded(ack_alerts, log), methods=["POST"]),
        Route("/v1/report", guarded(get_report, log), methods=["GET"]),
        Route("/v1/status", guarded(get_status, log), methods=["GET"]),
        Route("/healthz", guarded(healthz, log), methods=["GET"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        dbs.close_all()

    def logged(answer):  # unknown paths and methods are requests too: the operator sees them
        async def handler(request: Request, exc):
            response = await answer(request, exc)
            if log is not None:
                request.state.token_name = None
                log.write(request, response.status_code, 0.0)
            return response
        return handler

    return Starlette(routes=routes, exception_handlers={404: logged(not_found),
                                                        405: logged(not_allowed)},
                     lifespan=lifespan)
