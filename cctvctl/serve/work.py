"""What each ``cctvctl serve`` endpoint does, in a worker thread with that thread's database:
one library call each, scoped to the device token's cameras."""

from __future__ import annotations

import io

from cctvctl import tokens, validate
from cctvctl.errors import CountFileError
from cctvctl.serve.errors import ApiError, ScopeDenied
from cctvctl.serve.params import json_row_numbers, problem_text
from cctvctl.serve.wording import for_http

#: every refused row of a batch is listed (a device has no rejected-rows file to read)
MAX_LISTED_PROBLEMS = 1_000_000


def import_batch(db, token, tz, body, rows, on_error, replace, interval, layout):
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
            err.problems = [json_row_numbers(p, source) for p in err.problems]
            raise
    else:
        result = import_stream(db, io.BytesIO(body), source, options)
    answer = result.as_dict()
    answer.pop("rejected_file", None)  # a server writes no side file
    answer["problems"] = [for_http(problem_text(p, source, rows is not None)) for p in result.problems]
    flags = flags_of_import(db, result.import_id) if result.import_id else []
    answer["flags"] = [f.as_record(tz) for f in flags]
    return answer


def readable(token: tokens.Token, asked: list[str]) -> list[str] | None:
    for camera in asked:
        if not token.allows(camera):
            raise ApiError(403, "forbidden", f"token {token.name!r} may not read camera {camera!r}")
    return asked or None


def outliers(db, token, tz, since, until, cameras, episodes):
    from cctvctl.detect.episodes import build_episodes
    from cctvctl.detect.store import load_flags

    flags = [f for f in load_flags(db, since, until, cameras) if token.allows(f.camera)]
    if episodes:
        return [e.as_record(tz) for e in build_episodes(flags)]
    return [f.as_record(tz) for f in flags]


def pending_alerts(db, token, tz, consumer, since, now, dark):
    from cctvctl.alerts import pending

    found = [e for e in pending(db, consumer, since, now, dark) if token.allows(e.camera)]
    return [e.as_record(tz) for e in found]


def ack(db, token, tz, consumer, keys):
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


def token_cameras(db, token: tokens.Token) -> list[str]:
    """The stored cameras this token may read, sorted."""
    return sorted(str(c) for (c,) in db.query("SELECT DISTINCT camera FROM import_days")
                  if token.allows(str(c)))


def report(db, token, tz, given, compare):
    from cctvctl.periods import parse_period
    from cctvctl.render import to_json
    from cctvctl.report import COMPARE_MODES, build_report

    if compare not in COMPARE_MODES:
        raise ApiError(400, "bad_request", f"compare must be one of {', '.join(COMPARE_MODES)}")
    period = parse_period(*given)
    cameras = token_cameras(db, token)
    if not cameras:
        raise ApiError(404, "not_found", "no camera of this token has data")
    return to_json(build_report(db, period, tz, cameras=cameras, compare=compare))


def status(db, token, tz):
    from cctvctl.status import db_status

    status = db_status(db, tz).as_dict()
    status.pop("url", None)  # where the database lives is the operator's business
    status.pop("last_import", None)
    if status.get("cluster"):
        status["cluster"] = {k: status["cluster"][k] for k in ("size", "status", "ready")}
    if "*" not in token.cameras:  # a device sees the figures of its own cameras only
        status.update(scoped_figures(db, token, tz))
    return status


def scoped_figures(db, token, tz) -> dict:
    from cctvctl.periods import local_iso

    cameras = token_cameras(db, token)
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
