"""Query parameters and bodies of ``cctvctl serve`` → the library's arguments (checked, or a 4xx)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from cctvctl.errors import UsageError
from cctvctl.serve.errors import ApiError
from cctvctl.serve.wording import LAYOUT_PARAMS, SWITCHES

MAX_JSON_ROWS = 200_000


def boolean(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no", ""):
        return False
    raise ApiError(400, "bad_request", f"{name} must be true or false")


def json_rows(body: bytes) -> list[dict]:
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


def layout_of(q) -> dict:
    """The ``import`` layout options given as query parameters (``encoding=cp949``, ``map=…``)."""
    layout: dict = {}
    for flag in LAYOUT_PARAMS:
        name = flag.replace("-", "_")
        if name in ("on_error", "replace", "interval") or name not in q:
            continue
        if flag in SWITCHES:
            layout[name] = boolean(q[name], name)
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


def problem_text(problem, source: str, json_rows: bool) -> str:
    """A refused row as the client sent it: JSON rows are numbered from 1 (the CSV the library
    reads has a header line, so its line 2 is row 1)."""
    text = problem.format(source)
    return json_row_numbers(text, source) if json_rows else text


def json_row_numbers(text: str, source: str) -> str:
    prefix = f"{source}:"
    line, sep, rest = text[len(prefix):].partition(": ")
    if text.startswith(prefix) and sep and line.isdigit():
        return f"{source}: row {int(line) - 1}: {rest}"
    return text


def episode_key(e: dict) -> tuple[str, str, str, int]:
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


def days(q, tz: ZoneInfo) -> tuple[int, int]:
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


def alert_window(q, tz: ZoneInfo) -> tuple[int, int]:
    from cctvctl.periods import local_midnight_utc, parse_date

    now = int(time.time())
    if q.get("since"):
        since = local_midnight_utc(parse_date(q["since"]), tz)
    else:
        since = now - 7 * 86400
    if since >= now:
        raise ApiError(400, "bad_request", "since must be in the past")
    return since, now


def dark_after(text: str) -> int | None:
    try:
        hours = float(text)
    except ValueError:
        raise ApiError(400, "bad_request", "dark_after is hours, e.g. 3 (0 = off)") from None
    if not (0 <= hours <= 8784):
        raise ApiError(400, "bad_request", "dark_after must be between 0 and 8784 hours")
    return None if hours == 0 else int(hours * 3600)
