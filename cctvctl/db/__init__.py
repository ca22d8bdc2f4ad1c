"""Storage: one small interface over SQLite (embedded default) and MySQL/MariaDB.

``connect(url)`` returns a migrated :class:`Database`; everything backend-specific lives in
``dialect.py``; schema changes are numbered migrations in ``schema.py``.
"""

from cctvctl.db.connect import DbUrl, connect, parse_url
from cctvctl.db.database import Database

__all__ = ["Database", "DbUrl", "connect", "parse_url"]
