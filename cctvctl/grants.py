"""Least-privilege MySQL accounts: one per job instead of one all-powerful account from '%'.

* ingest  — the video team's imports: read what import and import-time detection need, insert
  counts and ledger rows, update counts (``--replace`` and MySQL's insert-or-keep), write the
  outlier flags of the rows it imports; it can delete no count, no ledger row and nothing in the
  statistics tables (DELETE only on the derived ``outliers``, which detection re-evaluates).
* cron    — aggregation, ``detect`` and ``alerts``: read everything, write ``stats``,
  ``weekday_stats``, ``agg_state``, ``outliers`` and ``alert_marks``; cannot insert or change counts.
* analyst — reports: SELECT only.

Schema changes (``cctvctl db init``) and ``cctvctl imports undo`` (which deletes counts, rewrites
the ledger and recomputes statistics) stay with the administrator's own account: no job account
may take data back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cctvctl.errors import UsageError

READ_ALL = ("counts", "imports", "import_days", "count_revisions", "stats", "weekday_stats",
            "outliers", "agg_state", "schema_version", "alert_marks")

#: taking a run lock (import, aggregate, detect) locks a row of run_locks: the analyst cannot,
#: so a read-only account can never stall the writers (which GET_LOCK allowed)
RUN_LOCKS = ("SELECT", "INSERT", "UPDATE")

#: role → table → privileges beyond SELECT on READ_ALL
ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    "ingest": {
        "counts": ("INSERT", "UPDATE"),
        "imports": ("INSERT", "UPDATE"),
        "import_days": ("INSERT",),
        # --replace logs what it overwrites (INSERT only: the log cannot be rewritten)
        "count_revisions": ("INSERT",),
        # import-time detection replaces the flags of the rows it wrote: derived data only
        "outliers": ("INSERT", "UPDATE", "DELETE"),
        "run_locks": RUN_LOCKS,
        # cctvctl serve runs as ingest: it checks device tokens and records their last use
        "api_tokens": ("SELECT", "UPDATE"),
        "alert_marks": ("INSERT",),  # POST /v1/alerts/ack
    },
    "cron": {
        "stats": ("INSERT", "UPDATE", "DELETE"),
        "weekday_stats": ("INSERT", "UPDATE", "DELETE"),
        "agg_state": ("INSERT", "UPDATE", "DELETE"),
        "outliers": ("INSERT", "UPDATE", "DELETE"),
        "run_locks": RUN_LOCKS,
        "alert_marks": ("INSERT",),  # cctvctl alerts from cron: marks what it told
    },
    "analyst": {},
}

_NAME = re.compile(r"^[A-Za-z0-9_]{1,32}$")
_HOST = re.compile(r"^[A-Za-z0-9_.%:\-]{1,255}$")


@dataclass
class Account:
    role: str
    user: str
    host: str
    statements: list[str] = field(default_factory=list)


def _quote(value: str) -> str:
    # Only ever applied to values that passed the strict patterns above.
    return "'" + value.replace("'", "''") + "'"


def plan_grants(database: str, host: str = "localhost", prefix: str = "cctv_") -> list[Account]:
    """The CREATE USER / GRANT statements for the three accounts (password bound separately)."""
    if not _NAME.match(database):
        raise UsageError(f"database name {database!r} must be letters, digits and _")
    if not _HOST.match(host):
        raise UsageError(f"host pattern {host!r} may contain letters, digits, . - _ : and %")
    if not _NAME.match(prefix + "analyst"):
        raise UsageError(f"account prefix {prefix!r} must be letters, digits and _")
    accounts = []
    for role, extra in ROLES.items():
        user = prefix + role
        who = f"{_quote(user)}@{_quote(host)}"
        stmts = [f"CREATE USER IF NOT EXISTS {who} IDENTIFIED BY ?"]
        for table in READ_ALL + tuple(t for t in extra if t not in READ_ALL):
            privs = tuple(dict.fromkeys((("SELECT",) if table in READ_ALL else ()) + extra.get(table, ())))
            stmts.append(f"GRANT {', '.join(privs)} ON `{database}`.`{table}` TO {who}")
        accounts.append(Account(role, user, host, stmts))
    return accounts


def grants_script(accounts: list[Account]) -> str:
    """Printable SQL with a placeholder for each password (never a real one)."""
    lines = []
    for acc in accounts:
        lines.append(f"-- {acc.role}: {ROLE_HELP[acc.role]}")
        for stmt in acc.statements:
            lines.append(stmt.replace("?", "'<password>'") + ";")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def apply_grants(db, accounts: list[Account], passwords: dict[str, str]) -> None:
    """Run the statements on a MySQL server (needs an account allowed to create users)."""
    if db.backend != "mysql":
        raise UsageError("db grants --apply needs a MySQL/MariaDB database (--db mysql://…)")
    for acc in accounts:
        password = passwords.get(acc.role)
        if not password:
            raise UsageError(f"no password for the {acc.role} account: set "
                             f"CCTV_{acc.role.upper()}_PASSWORD")
        for stmt in acc.statements:
            db.execute(stmt, (password,) if "?" in stmt else ())


ROLE_HELP = {
    "ingest": "cctvctl import (insert counts and ledger rows, import-time outlier flags)",
    "cron": "cctvctl aggregate / detect (write statistics and outlier flags)",
    "analyst": "cctvctl report / db status (read only)",
}
