"""Least-privilege MySQL accounts: one per job instead of one all-powerful account from '%'.

* ingest  — the video team's imports: read what import and import-time detection need, insert
  counts and ledger rows, update only the value columns of counts (``--replace`` and MySQL's
  insert-or-keep: never a row's camera or start, so no row moves) and only the outcome columns of
  its ledger row (never a source, hash or zone); it can delete no count, no ledger row and no
  flag, and write nothing in the statistics tables. Import-time detection, which
  must retract flags that late data disproves, appends a run of flags (INSERT into
  ``outlier_runs`` and ``outlier_log``) that readers take as the latest verdict; ``detect`` as
  cron folds runs into ``outliers`` (see ``cctvctl.detect.store``).
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

from cctvctl.errors import DatabaseError, UsageError

READ_ALL = ("counts", "imports", "import_days", "count_revisions", "stats", "day_hours", "weekday_stats",
            "outliers", "outlier_log", "outlier_runs", "agg_state", "schema_version", "alert_marks")

#: taking a run lock (import, aggregate, detect) locks a row of run_locks: the analyst cannot,
#: so a read-only account can never stall the writers (which GET_LOCK allowed)
RUN_LOCKS = ("SELECT", "INSERT", "UPDATE")

#: --replace rewrites a stored row's values (and which import wrote it), never its key
COUNT_VALUES_UPDATE = ("UPDATE (end_utc, people, vehicle, car, truck, bus, bicycle, motorcycle, "
                       "scooter, import_id)")
#: an import finishes its own ledger row; its source, hashes, zone and start stay as written
LEDGER_OUTCOME_UPDATE = "UPDATE (rows_read, inserted, duplicates, replaced, rejected, status, finished_at)"

#: role → table → privileges beyond SELECT on READ_ALL ("UPDATE (a, b)": those columns only)
ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    "ingest": {
        "counts": ("INSERT", COUNT_VALUES_UPDATE),
        "imports": ("INSERT", LEDGER_OUTCOME_UPDATE),
        "import_days": ("INSERT",),
        # --replace logs what it overwrites (INSERT only: the log cannot be rewritten)
        "count_revisions": ("INSERT",),
        # import-time detection appends its verdicts as a run (INSERT only: no flag is deleted
        # or rewritten; readers take the latest run of an interval, cron folds them)
        "outlier_log": ("INSERT",),
        "outlier_runs": ("INSERT",),
        "run_locks": RUN_LOCKS,
        # cctvctl serve runs as ingest: it checks device tokens and records their last use
        "api_tokens": ("SELECT", "UPDATE"),
        "alert_marks": ("INSERT",),  # POST /v1/alerts/ack
    },
    "cron": {
        "stats": ("INSERT", "UPDATE", "DELETE"),
        "day_hours": ("INSERT", "UPDATE", "DELETE"),  # written and deleted with the day's stats
        "weekday_stats": ("INSERT", "UPDATE", "DELETE"),
        "agg_state": ("INSERT", "UPDATE", "DELETE"),
        "outliers": ("INSERT", "UPDATE", "DELETE"),
        "outlier_log": ("INSERT", "UPDATE", "DELETE"),  # detect folds appended runs into outliers
        "outlier_runs": ("INSERT", "UPDATE", "DELETE"),
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
    """The statements that converge the three accounts to exactly their documented privileges:
    create if missing, set the password (bound separately), revoke everything (an old
    ``GRANT ALL`` included), grant the list. ``verify_grants`` then checks the result."""
    if not _NAME.match(database):
        raise UsageError(f"database name {database!r} must be letters, digits and _")
    if not _HOST.match(host):
        raise UsageError(f"host pattern {host!r} may contain letters, digits, . - _ : and %")
    if not _NAME.match(prefix + "analyst"):
        raise UsageError(f"account prefix {prefix!r} must be letters, digits and _")
    accounts = []
    for role in ROLES:
        user = prefix + role
        who = f"{_quote(user)}@{_quote(host)}"
        stmts = [f"CREATE USER IF NOT EXISTS {who} IDENTIFIED BY ?",
                 f"ALTER USER {who} IDENTIFIED BY ?",
                 f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {who}"]
        for table, privs in role_privileges(role).items():
            stmts.append(f"GRANT {', '.join(privs)} ON `{database}`.`{table}` TO {who}")
        accounts.append(Account(role, user, host, stmts))
    return accounts


def role_privileges(role: str) -> dict[str, tuple[str, ...]]:
    """table → the privileges a role holds on it (SELECT on READ_ALL plus the role's own)."""
    extra = ROLES[role]
    tables = READ_ALL + tuple(t for t in extra if t not in READ_ALL)
    return {t: tuple(dict.fromkeys((("SELECT",) if t in READ_ALL else ()) + extra.get(t, ())))
            for t in tables}


def expected_privileges(database: str, role: str) -> set[tuple]:
    """What information_schema must show for the account: (table, privilege, column or None)."""
    out = set()
    for table, privs in role_privileges(role).items():
        for priv in privs:
            name, _, cols = priv.partition("(")
            if cols:
                out |= {(table, name.strip(), c.strip()) for c in cols.rstrip(")").split(",")}
            else:
                out.add((table, name.strip(), None))
    return out


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
    """Converge the accounts on a MySQL server (needs an account allowed to create users and
    grant), then verify each holds exactly its documented privileges; a difference that could
    not be removed (a role, a proxy grant) is an error that names it."""
    if not db.dialect.accounts:
        raise UsageError("db grants --apply needs a MySQL/MariaDB database (--db mysql://…)")
    for acc in accounts:
        if not passwords.get(acc.role):
            raise UsageError(f"no password for the {acc.role} account: set "
                             f"CCTV_{acc.role.upper()}_PASSWORD")
    for acc in accounts:
        for stmt in acc.statements:
            db.execute(stmt, (passwords[acc.role],) if "?" in stmt else ())
    problems = [p for acc in accounts for p in verify_grants(db, acc)]
    if problems:
        raise GrantsMismatch("the accounts do not hold exactly the documented privileges: "
                             + "; ".join(problems))


def verify_grants(db, acc: Account) -> list[str]:
    """What differs between the account's privileges on the server and the documented ones."""
    grantee = f"'{acc.user}'@'{acc.host}'"
    database = db.url.database
    who = f"{acc.user}@{acc.host}"
    problems = []
    for (priv,) in db.query("SELECT privilege_type FROM information_schema.user_privileges "
                            "WHERE grantee = ? AND privilege_type <> 'USAGE'", (grantee,)):
        problems.append(f"{who} holds global {priv}")
    for schema, priv in db.query("SELECT table_schema, privilege_type FROM "
                                 "information_schema.schema_privileges WHERE grantee = ?", (grantee,)):
        problems.append(f"{who} holds {priv} on database {schema}")
    held = set()
    for schema, table, priv, grantable in db.query(
            "SELECT table_schema, table_name, privilege_type, is_grantable FROM "
            "information_schema.table_privileges WHERE grantee = ?", (grantee,)):
        held.add((schema, table, priv, None))
        if grantable == "YES":
            problems.append(f"{who} may grant {priv} on {schema}.{table}")
    for schema, table, column, priv in db.query(
            "SELECT table_schema, table_name, column_name, privilege_type FROM "
            "information_schema.column_privileges WHERE grantee = ?", (grantee,)):
        held.add((schema, table, priv, column))
    want = {(database, t, p, c) for t, p, c in expected_privileges(database, acc.role)}
    problems += [f"{who} holds {p}{f' ({c})' if c else ''} on {s}.{t}, not documented"
                 for s, t, p, c in sorted(held - want, key=repr)]
    problems += [f"{who} lacks {p}{f' ({c})' if c else ''} on {s}.{t}"
                 for s, t, p, c in sorted(want - held, key=repr)]
    for (line,) in db.query(f"SHOW GRANTS FOR {_quote(acc.user)}@{_quote(acc.host)}"):
        head = line.split(" TO ", 1)[0]
        if " ON " not in head:  # GRANT `role` TO …: a role's privileges come along
            problems.append(f"{who} is granted the role(s) {head[6:]}: revoke them "
                            f"(REVOKE {head[6:]} FROM {_quote(acc.user)}@{_quote(acc.host)})")
        elif head.startswith("GRANT PROXY"):
            problems.append(f"{who} holds {head[6:]}: revoke it")
    return problems


class GrantsMismatch(DatabaseError):
    """The server keeps privileges ``db grants --apply`` could not take away."""


ROLE_HELP = {
    "ingest": "cctvctl import (insert counts and ledger rows, append import-time outlier flags)",
    "cron": "cctvctl aggregate / detect (write statistics and outlier flags)",
    "analyst": "cctvctl report / db status (read only)",
}
