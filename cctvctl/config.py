"""Where settings come from: flags, then environment (CCTV_*), then built-in defaults.

The embedded default database is ``$XDG_DATA_HOME/cctvctl/cctv.db`` (usually
``~/.local/share/cctvctl/cctv.db``) so that cron, the video team and analysts on one machine find
the same file without configuration. The zone is the database's own (cctvctl.zone); before one is recorded ``CCTV_TZ``, else
the system zone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cctvctl.errors import UsageError

if TYPE_CHECKING:  # imported where used: --help need not load the zone database
    from zoneinfo import ZoneInfo

ENV_DB = "CCTV_DB"
ENV_TZ = "CCTV_TZ"
ENV_PASSWORD = "CCTV_DB_PASSWORD"


def default_db_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cctvctl" / "cctv.db"


def default_db_url() -> str:
    return f"sqlite://{default_db_path()}"


def resolve_db_url(flag: str | None) -> str:
    return flag or os.environ.get(ENV_DB) or default_db_url()


def load_zone(name: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    # files of the zone database that are not one place's rules: `localtime` follows whatever the
    # host links it to (a database's zone must not move with a machine), `right/…` counts leap
    # seconds (shifts every time by ~27 s), `Factory`/`posixrules` are placeholders
    base = name.split("/", 1)[0]
    if name in ("localtime", "posixrules", "Factory") or base in ("right", "posix", "SystemV"):
        raise UsageError(f"time zone {name!r} is not a place's zone (use an IANA name such as "
                         "Asia/Seoul)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"unknown time zone {name!r} (use an IANA name such as Asia/Seoul)") from None
