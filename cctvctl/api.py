"""The Python entry points the video team (and the CLI) call.

Example::

    from cctvctl import api
    result = api.import_file("counts.csv", db="sqlite:///cctv.db", tz="Asia/Seoul")
    print(result.inserted, result.duplicates)
    api.undo_import(result.import_id, db="sqlite:///cctv.db")  # takes it back
"""

from __future__ import annotations

from typing import Iterable, Mapping

from cctvctl import config, ledger
from cctvctl.db import Database, connect
from cctvctl.ingest import ImportOptions, ImportResult
from cctvctl.ingest import import_file as _import_file
from cctvctl.ingest import import_rows as _import_rows
from cctvctl.ledger import ImportRecord, UndoResult


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


def list_imports(*, db: str | None = None, limit: int | None = 50,
                 status: str | None = None) -> list[ImportRecord]:
    """The import ledger, newest first (``status``: ok, rejected or undone)."""
    with open_database(db, create=False) as database:
        return ledger.list_imports(database, limit=limit, status=status)


def undo_import(import_id: int, *, db: str | None = None, detect: bool = True) -> UndoResult:
    """Take back one import: its rows removed, the values it replaced restored, statistics and
    outlier flags of its days recomputed. Raises ``UsageError`` where it cannot (the message
    says why: unknown, rejected, already undone, or a later import replaced its rows)."""
    with open_database(db, create=False) as database:
        return ledger.undo_import(database, import_id, detect=detect)
