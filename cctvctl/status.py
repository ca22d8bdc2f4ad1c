"""What is in a database: backend, schema version, cameras, rows, time covered, last import."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from cctvctl.db.database import Database
from cctvctl.db.schema import LATEST, current_version
from cctvctl.periods import local_iso

#: the covered range runs from the first interval's start to the last one's end
COUNT_SUMMARY = "SELECT COUNT(*), MIN(start_utc), MAX(end_utc) FROM counts"
CAMERA_COUNT = "SELECT COUNT(DISTINCT camera) FROM counts"
LAST_IMPORT = ("SELECT id, source, status, rows_read, inserted, duplicates, rejected, finished_at "
               "FROM imports ORDER BY id DESC LIMIT 1")


@dataclass
class DbStatus:
    backend: str
    url: str
    schema_version: int
    schema_latest: int
    cameras: int
    rows: int
    first: str | None
    last: str | None
    last_import: dict | None
    cluster: dict | None = None  # a Galera node: cluster size, status, this node's state
    #: the zone the database uses (cctvctl.zone.Zone; set by cctvctl.api.status, not in as_dict)
    zone: object = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "zone"}


def db_status(db: Database, tz: ZoneInfo) -> DbStatus:
    rows, first, last = db.query_one(COUNT_SUMMARY)
    imp = db.query_one(LAST_IMPORT)
    last_import = None
    if imp:
        last_import = dict(zip(("id", "source", "status", "read", "inserted", "duplicates",
                                "rejected"), imp[:7]))
        last_import["finished"] = local_iso(int(imp[7]), tz) if imp[7] else None
    return DbStatus(
        backend=db.backend, url=db.url.display(), schema_version=current_version(db),
        schema_latest=LATEST, cameras=int(db.scalar(CAMERA_COUNT) or 0), rows=int(rows or 0),
        first=local_iso(int(first), tz) if first is not None else None,
        last=local_iso(int(last), tz) if last is not None else None, last_import=last_import,
        cluster=cluster_status(db))


CLUSTER_STATUS = ("wsrep_cluster_size", "wsrep_cluster_status", "wsrep_local_state_comment",
                  "wsrep_node_name", "wsrep_ready")


def cluster_status(db: Database) -> dict | None:
    """Where the server is a Galera node: how many nodes, whether primary, this node's state."""
    if not getattr(db, "cluster", False):
        return None
    found = {str(k): str(v) for k, v in db.query("SHOW STATUS LIKE 'wsrep_%'")}
    node = db.scalar("SELECT @@wsrep_node_name")
    return {"size": int(found.get("wsrep_cluster_size", 0)),
            "status": found.get("wsrep_cluster_status"),
            "state": found.get("wsrep_local_state_comment"),
            "ready": found.get("wsrep_ready") == "ON", "node": None if node is None else str(node),
            "connected_to": db.url.where}
