"""The HTTP API of ``cctvctl serve``: a thin layer over the same library as the CLI.

Every endpoint authenticates a device token (except ``/healthz``), checks its scope, calls one
library function in a worker thread and answers JSON. Errors have one shape:
``{"error": {"code": "...", "message": "..."}}`` (``problems`` added for refused rows).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cctvctl import tokens, validate
from cctvctl.db import connect
from cctvctl.serve.wording import LAYOUT_PARAMS, SWITCHES, for_http
from cctvctl.errors import CctvError, CountFileError, DatabaseError, LockTimeout, UsageError
from cctvctl.serve.accesslog import AccessLog
from cctvctl.serve.ratelimit import RateLimiter

API_VERSION = "v1"
CSV_TYPES = ("text/csv", "text/plain", "application/csv")
JSON_TYPES = ("application/json",)
MAX_JSON_ROWS = 200_000
#: every refused row of a batch is listed (a device has no rejected-rows file to read)
MAX_LISTED_PROBLEMS = 1_000_000


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
        replace = _flag(q.get("replace", "false"), "replace")
        interval = q.get("interval")
        layout = _layout(q)
        body = await read_body(request)
        rows = None
        if kind in JSON_TYPES:
            rows = _json_rows(body)
        if not batches.acquire(blocking=False):
            raise ApiError(503, "busy", "too many batches are waiting for the database; retry later",
                           headers={"Retry-After": "2"})
        try:
            return JSONResponse(await run_in_threadpool(
                in_db, _import_batch, token, await zone(), body, rows, on_error, replace, interval,
                {**layout, "lock_timeout": config.lock_wait}))
        finally:
            batches.release()

    async def get_outliers(request: Request):
        token = await authenticate(request, "read")
        q = request.query_params
        tz = await zone()
        since, until = _days(q, tz)
        cameras = _cameras(token, q.getlist("camera"))
        episodes = _flag(q.get("episodes", "false"), "episodes")
        return JSONResponse(await run_in_threadpool(in_db, _outliers, token, tz, since,
                                                    until, cameras, episodes))

    async def get_alerts(request: Request):
        token = await authenticate(request, "read")
        q = request.query_params
        consumer = q.get("consumer", "")
        tz = await zone()
        since, now = _alert_window(q, tz)
        dark = _dark_after(q.get("dark_after", "3"))
        return JSONResponse(await run_in_threadpool(in_db, _pending_alerts, token, tz,
                                                    consumer, since, now, dark))

    async def ack_alerts(request: Request):
        token = await authenticate(request, "read")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() not in JSON_TYPES:
            raise ApiError(415, "unsupported_media_type", "send application/json")
        try:
            payload = json.loads(await read_body(request))
            consumer = str(payload["consumer"])
            keys = [_episode_key(e) for e in payload["episodes"]]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise ApiError(400, "bad_request", 'send {"consumer": NAME, "episodes": [{"camera", '
                           '"metric", "kind", "start_utc"}, …]}') from None
        marked = await run_in_threadpool(in_db, _ack, token, await zone(), consumer, keys)
        return JSONResponse({"consumer": consumer, "marked": marked})

    async def get_report(request: Request):
        token = await authenticate(request, "read")
        q = request.query_params
        given = [(g, q[g]) for g in ("day", "week", "month", "year") if q.get(g)]
        if len(given) != 1:
            raise ApiError(400, "bad_request", "give exactly one of day, week, month or year")
        compare = q.get("compare", "previous")
        text = await run_in_threadpool(in_db, _report, token, await zone(), given[0], compare)
        return Response(text, media_type="application/json")

    async def get_status(request: Request):
        token = await authenticate(request, "read")
        return JSONResponse(await run_in_threadpool(in_db, _status, token, await zone()))

    async def healthz(request: Request):
        try:
            await run_in_threadpool(in_db, lambda db: db.scalar("SELECT 1"))
        except CctvError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/v1/counts", _guard(post_counts, log), methods=["POST"]),
        Route("/v1/outliers", _guard(get_outliers, log), methods=["GET"]),
        Route("/v1/alerts", _guard(get_alerts, log), methods=["GET"]),
        Route("/v1/alerts/ack", _guard(ack_alerts, log), methods=["POST"]),
        Route("/v1/report", _guard(get_report, log), methods=["GET"]),
        Route("/v1/status", _guard(get_status, log), methods=["GET"]),
        Route("/healthz", _guard(healthz, log), methods=["GET"]),
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

    return Starlette(routes=routes, exception_handlers={404: logged(_not_found),
                                                        405: logged(_not_allowed)},
                     lifespan=lifespan)


def _guard(handler, log: AccessLog | None):
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
            _log_internal(exc)
            response = error_response(ApiError(500, "internal", "internal error"))
        if log is not None:
            log.write(request, response.status_code, time.monotonic() - started)
        return response
    return endpoint


async def _not_found(request: Request, exc):
    return error_response(ApiError(404, "not_found", "no such endpoint"))


async def _not_allowed(request: Request, exc):
    return error_response(ApiError(405, "method_not_allowed", "method not allowed here"))


# -- the work, in a worker thread with this thread's database -----------------------------------

def _flag(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no", ""):
        return False
    raise ApiError(400, "bad_request", f"{name} must be true or false")


def _json_rows(body: bytes) -> list[dict]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_request", f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "bad_request", "the body is not JSON rows: nested too deeply") from None
    rows = payload.get("rows") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ApiError(400, "bad_request", 'send a non-empty list of row objects (or {"rows": [...]})')
    if len(rows) > MAX_JSON_ROWS:
        raise ApiError(413, "too_large", f"at most {MAX_JSON_ROWS} rows per batch")
    for number, row in enumerate(rows, start=1):
        for key, value in row.items():
            if value is not None and not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ApiError(422, "rejected", f"row {number}: {key} must be a string or a number")
    return rows


def _layout(q) -> dict:
    """The ``import`` layout options given as query parameters (``encoding=cp949``, ``map=…``)."""
    layout: dict = {}
    for flag in LAYOUT_PARAMS:
        name = flag.replace("-", "_")
        if name in ("on_error", "replace", "interval") or name not in q:
            continue
        if flag in SWITCHES:
            layout[name] = _flag(q[name], name)
        elif name in ("map", "na", "wide"):
            layout[{"map": "mapping"}.get(name, name)] = q.getlist(name)
        elif name == "max_count":
            try:
                layout[name] = int(q[name])
            except ValueError:
                raise ApiError(400, "bad_request", "max_count is a whole number") from None
        else:
            layout[name] = q[name]
    return layout


def _problem_text(problem, source: str, json_rows: bool) -> str:
    """A refused row as the client sent it: JSON rows are numbered from 1 (the CSV the library
    reads has a header line, so its line 2 is row 1)."""
    text = problem.format(source)
    return _json_row_numbers(text, source) if json_rows else text


def _json_row_numbers(text: str, source: str) -> str:
    prefix = f"{source}:"
    line, sep, rest = text[len(prefix):].partition(": ")
    if text.startswith(prefix) and sep and line.isdigit():
        return f"{source}: row {int(line) - 1}: {rest}"
    return text


def _episode_key(e: dict) -> tuple[str, str, str, int]:
    """One acknowledged episode, checked like the episodes ``GET /v1/alerts`` hands out."""
    from cctvctl.detect.episodes import KINDS
    from cctvctl.ingest.cameras import validate_camera_name

    camera, metric, kind, start = e["camera"], e["metric"], e["kind"], e["start_utc"]
    if not isinstance(camera, str) or not isinstance(start, int) or isinstance(start, bool):
        raise TypeError("camera is a string and start_utc an integer")
    try:
        validate_camera_name(camera)
    except UsageError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    if metric not in ("people", "vehicle", "all") or kind not in KINDS:
        raise ApiError(400, "bad_request", f"metric is people, vehicle or all and kind one of "
                       f"{', '.join(KINDS)}")
    if not 0 <= start < 4102444800:  # 2100-01-01
        raise ApiError(400, "bad_request", "start_utc is seconds since 1970, before 2100")
    return camera, metric, kind, start


def _log_internal(exc: BaseException) -> None:
    """Where an unexpected error happened (type and innermost frame, never its text: it may
    quote a request's content), so an operator can tell a bug from a bad request."""
    import sys
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    sys.stderr.write(f"serve: internal error {type(exc).__name__}{where}\n")


def _import_batch(db, token, tz, body, rows, on_error, replace, interval, layout):
    from cctvctl.detect.store import flags_of_import
    from cctvctl.ingest import ImportOptions, import_rows, import_stream

    def check(cameras: list[str]) -> None:
        outside = [c for c in cameras if not token.allows(c)]
        if outside:
            raise ScopeDenied(f"token {token.name!r} may not post camera {outside[0]!r}; "
                              "nothing was written")

    extra = {}
    if interval is not None:  # the CLI's rule: minutes in whole seconds, up to one day
        try:
            extra["interval"] = validate.interval_minutes(float(interval), "interval")
        except ValueError:
            raise ApiError(400, "bad_request", "interval is minutes, e.g. 5") from None
    options = ImportOptions(tz=tz, on_error=on_error, replace=replace, camera_check=check,
                            write_rejected=False, ledger_scope=f"token {token.id}",
                            shown_problems=MAX_LISTED_PROBLEMS, **layout, **extra)
    source = f"serve:{token.name}"
    if rows is not None:
        options.na = (*options.na, "")  # JSON null is the natural "unknown"
        try:
            result = import_rows(db, rows, options, source=source)
        except CountFileError as err:
            err.problems = [_json_row_numbers(p, source) for p in err.problems]
            raise
    else:
        result = import_stream(db, io.BytesIO(body), source, options)
    answer = result.as_dict()
    answer.pop("rejected_file", None)  # a server writes no side file
    answer["problems"] = [for_http(_problem_text(p, source, rows is not None)) for p in result.problems]
    flags = flags_of_import(db, result.import_id) if result.import_id else []
    answer["flags"] = [f.as_record(tz) for f in flags]
    return answer


def _days(q, tz: ZoneInfo) -> tuple[int, int]:
    from cctvctl.periods import local_midnight_utc, parse_date

    if not q.get("since"):
        raise ApiError(400, "bad_request", "since=YYYY-MM-DD is required")
    first = parse_date(q["since"])
    last = parse_date(q["until"]) if q.get("until") else first
    if last < first:
        raise ApiError(400, "bad_request", "until is before since")
    if (last - first).days > 366:
        raise ApiError(400, "bad_request", "at most 366 days per request")
    return local_midnight_utc(first, tz), local_midnight_utc(last + timedelta(days=1), tz)


def _cameras(token: tokens.Token, asked: list[str]) -> list[str] | None:
    for camera in asked:
        if not token.allows(camera):
            raise ApiError(403, "forbidden", f"token {token.name!r} may not read camera {camera!r}")
    return asked or None


def _outliers(db, token, tz, since, until, cameras, episodes):
    from cctvctl.detect.episodes import build_episodes
    from cctvctl.detect.store import load_flags

    flags = [f for f in load_flags(db, since, until, cameras) if token.allows(f.camera)]
    if episodes:
        return [e.as_record(tz) for e in build_episodes(flags)]
    return [f.as_record(tz) for f in flags]


def _alert_window(q, tz: ZoneInfo) -> tuple[int, int]:
    from cctvctl.periods import local_midnight_utc, parse_date

    now = int(time.time())
    if q.get("since"):
        since = local_midnight_utc(parse_date(q["since"]), tz)
    else:
        since = now - 7 * 86400
    if since >= now:
        raise ApiError(400, "bad_request", "since must be in the past")
    return since, now


def _dark_after(text: str) -> int | None:
    try:
        hours = float(text)
    except ValueError:
        raise ApiError(400, "bad_request", "dark_after is hours, e.g. 3 (0 = off)") from None
    if not (0 <= hours <= 8784):
        raise ApiError(400, "bad_request", "dark_after must be between 0 and 8784 hours")
    return None if hours == 0 else int(hours * 3600)


def _pending_alerts(db, token, tz, consumer, since, now, dark):
    from cctvctl.alerts import pending

    found = [e for e in pending(db, consumer, since, now, dark) if token.allows(e.camera)]
    return [e.as_record(tz) for e in found]


def _ack(db, token, tz, consumer, keys):
    from cctvctl.alerts import check_consumer, mark
    from cctvctl.detect.episodes import Episode

    check_consumer(consumer)
    for camera, *_ in keys:
        if not token.allows(camera):
            raise ApiError(403, "forbidden", f"token {token.name!r} may not read camera {camera!r}")
    told = [Episode(camera, metric, kind, "", start, None, 0, None, None, None, "")
            for camera, metric, kind, start in keys]
    mark(db, consumer, told)
    return len(told)


def _token_cameras(db, token: tokens.Token) -> list[str]:
    """The stored cameras this token may read, sorted."""
    return sorted(str(c) for (c,) in db.query("SELECT DISTINCT camera FROM import_days")
                  if token.allows(str(c)))


def _report(db, token, tz, given, compare):
    from cctvctl.periods import parse_period
    from cctvctl.render import to_json
    from cctvctl.report import COMPARE_MODES, build_report

    if compare not in COMPARE_MODES:
        raise ApiError(400, "bad_request", f"compare must be one of {', '.join(COMPARE_MODES)}")
    period = parse_period(*given)
    cameras = _token_cameras(db, token)
    if not cameras:
        raise ApiError(404, "not_found", "no camera of this token has data")
    return to_json(build_report(db, period, tz, cameras=cameras, compare=compare))


def _status(db, token, tz):
    from cctvctl.status import db_status

    status = db_status(db, tz).as_dict()
    status.pop("url", None)  # where the database lives is the operator's business
    status.pop("last_import", None)
    if status.get("cluster"):
        status["cluster"] = {k: status["cluster"][k] for k in ("size", "status", "ready")}
    if "*" not in token.cameras:  # a device sees the figures of its own cameras only
        status.update(_scoped_figures(db, token, tz))
    return status


def _scoped_figures(db, token, tz) -> dict:
    from cctvctl.periods import local_iso

    cameras = _token_cameras(db, token)
    rows, first, last = 0, None, None
    for i in range(0, len(cameras), 500):
        part = cameras[i:i + 500]
        n, lo, hi = db.query_one("SELECT COUNT(*), MIN(start_utc), MAX(start_utc) FROM counts "
                                 f"WHERE camera IN ({', '.join('?' * len(part))})", part)
        rows += int(n or 0)
        first = lo if first is None or (lo is not None and lo < first) else first
        last = hi if last is None or (hi is not None and hi > last) else last
    return {"cameras": len(cameras), "rows": rows,
            "first": local_iso(int(first), tz) if first is not None else None,
            "last": local_iso(int(last), tz) if last is not None else None}
