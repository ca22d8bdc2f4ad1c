"""The Python entry points the video team (and the CLI) call.

Example::

    from cctvctl import api
    result = api.import_file("counts.csv", db="sqlite:///cctv.db", tz="Asia/Seoul")
    print(result.inserted, result.duplicates)
"""

from __future__ import annotations

from typing import Iterable, Mapping

from cctvctl import config
from cctvctl.db import Database, connect
from cctvctl.ingest import ImportOptions, ImportResult
from cctvctl.ingest import import_file as _import_file
from cctvctl.ingest import import_rows as _import_rows


def open_database(url: str | None = None, *, create: bool = True) -> Database:
    """Connect (and migrate) the database at ``url``, ``CCTV_DB`` or the embedded default.

    ``create=False`` refuses a SQLite file that does not exist (exit 1) instead of creating an
    empty one: a mistyped path under cron must fail loudly, not aggregate nothing forever.
    """
    return connect(config.resolve_db_url(url), create=create)


def _options(database: Database, tz: str | None, **kwargs) -> ImportOptions:
    """The database's zone; ``tz`` (or CCTV_TZ) only where none is recorded, else it must agree."""
    import os

    from cctvctl.zone import resolve_zone

    return ImportOptions(tz=resolve_zone(database, tz or os.environ.get(config.ENV_TZ) or None).tz,
                         **kwargs)


def import_file(path: str, *, db: str | None = None, tz: str | None = None, **options) -> ImportResult:
    """Import one count file; raises ``CountFileError`` (with ``.problems``) when rejected.

    ``options`` are the fields of :class:`cctvctl.ingest.ImportOptions` (``camera``,
    ``mapping``, ``on_error``, ``replace``, ``interval`` in seconds, …).
    """
    with open_database(db) as database:
        return _import_file(database, path, _options(database, tz, **options))


def import_rows(rows: Iterable[Mapping], *, db: str | None = None, tz: str | None = None,
                source: str = "<rows>", **options) -> ImportResult:
    """Import rows given as dicts (``camera``, ``start``, ``end``, ``people``, ``vehicle``, …)."""
    with open_database(db) as database:
        return _import_rows(database, rows, _options(database, tz, **options), source=source)
