"""Where settings come from: flags, then environment (CCTV_*), then built-in defaults.

The embedded default database is ``$XDG_DATA_HOME/cctvctl/cctv.db`` (usually
``~/.local/share/cctvctl/cctv.db``) so that cron, the video team and analysts on one machine find
the same file without configuration. The default zone is ``CCTV_TZ``, else the system zone.
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


def system_zone_name() -> str:
    """The machine's IANA zone name (from /etc/timezone or the /etc/localtime link), else UTC."""
    tz_env = os.environ.get("TZ")
    if tz_env and not tz_env.startswith(":"):
        return tz_env
    try:
        name = Path("/etc/timezone").read_text().strip()
        if name:
            return name
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return "UTC"


def resolve_tz(flag: str | None) -> ZoneInfo:
    """A ZoneInfo for --tz, CCTV_TZ or the system zone; a clear UsageError for unknown names."""
    name = flag or os.environ.get(ENV_TZ) or system_zone_name()
    return load_zone(name)


def load_zone(name: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"unknown time zone {name!r} (use an IANA name such as Asia/Seoul)") from None
