"""One zone per database: which IANA zone a database's local times and periods are in.

A count file holds naive local times; the same bytes read in another zone are other instants,
and statistics cut at another midnight. So the database records its zone — ``db init`` (and
aggregation) write it to ``agg_state`` key ``tz``; the first import's ledger row (``imports.tz``)
records it too, so the ingest account, which may not write ``agg_state``, needs no new grant —
every command uses it by default, and a ``--tz`` / ``CCTV_TZ`` that differs is refused. ``db set-zone ZONE --force`` is the one deliberate way to
change it (see docs/zone.md). Where nothing is stored and nothing is given, the system zone is
found with ``tzlocal`` or the command is refused: never a silent UTC.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cctvctl.config import ENV_TZ, load_zone
from cctvctl.db.database import Database
from cctvctl.errors import UsageError

TZ_KEY = "tz"  # the agg_state row (aggregation already kept its zone there)
GET_ZONE = "SELECT value FROM agg_state WHERE name = ?"
LEDGER_ZONES = "SELECT DISTINCT tz FROM imports WHERE status = 'ok'"
HAS_COUNTS = "SELECT 1 FROM counts LIMIT 1"
#: what was computed in local periods of the old zone: dropped by ``set-zone --force``
DERIVED_TABLES = ("stats", "day_hours", "weekday_stats", "outliers", "outlier_log", "outlier_runs")
AGG_KEYS = "DELETE FROM agg_state WHERE name LIKE 'through:%' OR name LIKE 'import:%'"
FIX = "give --tz ZONE (or set CCTV_TZ), e.g. --tz Asia/Seoul"


@dataclass(frozen=True)
class Zone:
    """A resolved zone and where it came from (said in summaries)."""

    tz: ZoneInfo
    origin: str  # stored | imports | option | system

    @property
    def stored(self) -> bool:
        """The database records it already (agg_state, or the ledger of its imports)."""
        return self.origin in ("stored", "imports")

    @property
    def key(self) -> str:
        return self.tz.key

    @property
    def how(self) -> str:
        return {"stored": "the database's zone", "imports": "the database's zone",
                "option": "from --tz/CCTV_TZ", "system": "the system zone"}[self.origin]

    def describe(self) -> str:
        return f"zone {self.key} ({self.how})"


def resolve_tz(flag: str | None) -> ZoneInfo:
    """A ZoneInfo for --tz, CCTV_TZ or the system zone, for commands without a database
    (``sample``); a clear UsageError for unknown names."""
    name = flag or os.environ.get(ENV_TZ) or system_zone_name()
    return load_zone(name)


def system_zone_name(root: str = "/", env: dict | None = None) -> str:
    """The machine's IANA zone: ``TZ``, else /etc/timezone or the /etc/localtime link (tzlocal).

    Refused (UsageError) where none of them names a zone — a container with a copied
    /etc/localtime, or none at all: guessing UTC there cut days at the wrong midnight unnoticed.
    ``root`` and ``env`` exist for tests.
    """
    import zoneinfo

    from tzlocal.unix import _get_localzone_name  # the uncached get_localzone_name(), with a root
    from tzlocal.utils import _tz_name_from_env

    env = os.environ if env is None else env
    tz_env = env.get("TZ")
    if tz_env:
        name = _tz_name_from_env(tz_env)  # a name, or a path into a zoneinfo tree
        if not name:
            raise UsageError(f"the TZ environment variable ({tz_env!r}) names no IANA time zone; "
                             f"{FIX}")
        _check_name(name, "the TZ environment variable")
        return name
    try:  # reads TZ from os.environ first: empty or unset when we get here (tests clear it)
        name = _get_localzone_name(_root=root)
    except zoneinfo.ZoneInfoNotFoundError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "conflicting settings"
        raise UsageError(f"cannot tell the system time zone ({first.rstrip(':')}); {FIX}") from None
    if not name:
        raise UsageError("cannot tell the system time zone (no TZ, /etc/timezone or /etc/localtime "
                         f"link names one); {FIX}")
    _check_name(name, "the system settings")
    return name


def _check_name(name: str, where: str) -> None:
    try:
        load_zone(name)
    except UsageError:
        raise UsageError(f"{where} gives the time zone {name!r}, which is not an IANA zone; {FIX}") from None


def stored_zone(db: Database) -> tuple[str | None, str]:
    """(zone name, origin): the recorded zone, else the one zone of a database's earlier
    imports (databases from before the zone was recorded), else (None, "")."""
    row = db.query_one(GET_ZONE, (TZ_KEY,))
    if row and row[0]:
        return str(row[0]), "stored"
    zones = sorted({str(z) for (z,) in db.query(LEDGER_ZONES)})
    if len(zones) > 1:
        raise UsageError(
            f"this database holds imports read in several zones ({', '.join(zones)}) and records "
            "no zone: choose the one its data is in with `cctvctl db set-zone ZONE --force` "
            "(see docs/zone.md)")
    if zones:
        return zones[0], "imports"
    return None, ""


def resolve_zone(db: Database, requested: str | None) -> Zone:
    """The zone a command uses on ``db``: the stored one; a different ``requested`` is refused."""
    name, origin = stored_zone(db)
    if name is not None:
        if requested is not None and load_zone(requested).key != name:
            raise refuse_other(name, requested)
        return Zone(load_zone(name), origin)
    if requested is not None:
        return Zone(load_zone(requested), "option")
    return Zone(load_zone(system_zone_name()), "system")


def refuse_other(stored: str, requested: str) -> UsageError:
    return UsageError(
        f"this database's zone is {stored}; --tz/CCTV_TZ {requested} differs (its local times "
        f"and periods are in {stored}): drop --tz or use --tz {stored}; to change the database's "
        f"zone deliberately see `cctvctl db set-zone --help`")


def check_zone(db: Database, tz: ZoneInfo) -> None:
    """Refuse to write with a zone other than the recorded one (import, inside its lock and
    transaction: its ledger row then records ``tz`` for a database that had none)."""
    name, _ = stored_zone(db)
    if name is not None and name != tz.key:
        raise refuse_other(name, tz.key)


def record_zone(db: Database, tz: ZoneInfo) -> None:
    """Write ``tz`` to ``agg_state`` unless it holds a zone (``db init``); refuse a different one."""
    check_zone(db, tz)
    if not db.query_one(GET_ZONE, (TZ_KEY,)):
        db.execute("INSERT INTO agg_state (name, value) VALUES (?, ?)", (TZ_KEY, tz.key))


@dataclass
class ZoneChange:
    old: str | None
    new: str
    dropped: dict


def set_zone(db: Database, name: str, *, force: bool) -> ZoneChange:
    """Make ``name`` the database's zone.

    Without counts it is just recorded. With counts ``force`` is required: stored instants stay
    (they are UTC), but statistics and flags were cut in local periods of the old zone, so they
    are dropped together with the aggregation state, in one transaction; the next
    ``aggregate all`` recomputes them in the new zone.
    """
    tz = load_zone(name)
    with db.lock("import", timeout=600), db.lock("aggregate", timeout=600), db.atomic():
        try:
            old, _ = stored_zone(db)
        except UsageError:
            old = None  # several zones in the ledger: exactly what set-zone settles
        has_counts = db.query_one(HAS_COUNTS) is not None
        dropped: dict = {}
        if old == tz.key:
            record_zone(db, tz)
            return ZoneChange(old, tz.key, dropped)
        if has_counts and not force:
            raise UsageError(
                f"this database holds counts read as local times of {old or 'several zones'}; "
                f"changing its zone to {tz.key} drops its statistics and stored flags (the next "
                "`aggregate all` recomputes them) and does not move stored counts: add --force "
                "to do it (see docs/zone.md)")
        for table in DERIVED_TABLES:
            dropped[table] = max(db.execute(f"DELETE FROM {table}"), 0)
        db.execute(AGG_KEYS)
        db.execute(db.dialect.upsert("agg_state", ["name", "value"], ["name"]), (TZ_KEY, tz.key))
    return ZoneChange(old, tz.key, dropped)
