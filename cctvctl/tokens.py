"""Device tokens for ``cctvctl serve``: shown once, stored only as a SHA-256 hash, scoped.

A detector box gets a token instead of a database account: it may post counts only for the
cameras its patterns match (``gate-*``), and read only if created with ``--read``. The secret
is 256 random bits, so a plain SHA-256 (no salt, no slow hash) is enough to make the stored
value useless to a reader of the database, and lets a request be checked with one indexed look-up.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass

from cctvctl.db.database import Database
from cctvctl.errors import DatabaseError, UsageError
from cctvctl.safetext import hidden_char

log = logging.getLogger(__name__)

PREFIX = "cctv_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PATTERNS = 64

INSERT = ("INSERT INTO api_tokens (name, token_sha256, cameras, can_write, can_read, created_at) "
          "VALUES (?, ?, ?, ?, ?, ?)")
SELECT_ALL = ("SELECT id, name, cameras, can_write, can_read, created_at, revoked_at, last_used_at "
              "FROM api_tokens ORDER BY id")
SELECT_BY_HASH = ("SELECT id, name, cameras, can_write, can_read, created_at, revoked_at, "
                  "last_used_at, token_sha256 FROM api_tokens WHERE token_sha256 = ?")


@dataclass(frozen=True)
class Token:
    """What a token may do (never the secret)."""

    id: int
    name: str
    cameras: tuple[str, ...]  # fnmatch patterns; a device may write only these cameras
    can_write: bool
    can_read: bool
    created_at: int
    revoked_at: int | None = None
    last_used_at: int | None = None

    def allows(self, camera: str) -> bool:
        return any(fnmatch.fnmatchcase(camera, p) for p in self.cameras)

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "cameras": list(self.cameras),
                "write": self.can_write, "read": self.can_read, "created_at": self.created_at,
                "revoked_at": self.revoked_at, "last_used_at": self.last_used_at}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _row(r) -> Token:
    return Token(id=int(r[0]), name=str(r[1]), cameras=tuple(json.loads(r[2])),
                 can_write=bool(r[3]), can_read=bool(r[4]), created_at=int(r[5]),
                 revoked_at=None if r[6] is None else int(r[6]),
                 last_used_at=None if r[7] is None else int(r[7]))


def check_patterns(cameras: list[str]) -> tuple[str, ...]:
    if not cameras:
        raise UsageError("give at least one --camera pattern (e.g. --camera 'gate-*'; '*' = every camera)")
    if len(cameras) > MAX_PATTERNS:
        raise UsageError(f"at most {MAX_PATTERNS} --camera patterns per token")
    for p in cameras:
        if not 1 <= len(p) <= 64 or hidden_char(p) or p != p.strip():
            raise UsageError(f"--camera pattern {p!r} must be 1-64 characters without control or "
                             "invisible characters or leading or trailing spaces")
    return tuple(cameras)


def create_token(db: Database, name: str, cameras: list[str], *, write: bool = True,
                 read: bool = False) -> tuple[Token, str]:
    """A new token named ``name``: returns it and its secret (the only time the secret exists)."""
    if not NAME_PATTERN.match(name or ""):
        raise UsageError(f"--name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
    patterns = check_patterns(cameras)
    if not (write or read):
        raise UsageError("a token that may neither write nor read is useless (drop --no-write or add --read)")
    taken = db.query_one("SELECT revoked_at FROM api_tokens WHERE name = ?", (name,))
    if taken is not None and taken[0] is not None:  # names stay unique: old log lines keep meaning
        raise UsageError(f"a revoked token was named {name!r}; names are never reused (the access "
                         "log still names it): choose another --name")
    if taken is not None:
        raise UsageError(f"a token named {name!r} exists; revoke it or choose another --name")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = int(time.time())
    with db.atomic():
        db.execute(INSERT, (name, digest(secret), json.dumps(list(patterns)), int(write), int(read), now))
    token = next(t for t in list_tokens(db) if t.name == name)
    return token, secret


def list_tokens(db: Database) -> list[Token]:
    return [_row(r) for r in db.query(SELECT_ALL)]


def revoke_token(db: Database, name: str) -> Token:
    """Revoke by name (kept in the list as revoked: who had access stays on record)."""
    with db.atomic():
        changed = db.execute("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                             (int(time.time()), name))
    if not changed:
        known = [t for t in list_tokens(db) if t.name == name]
        raise UsageError(f"token {name!r} is already revoked" if known else f"no token named {name!r}")
    return next(t for t in list_tokens(db) if t.name == name)


def verify(db: Database, secret: str | None) -> Token | None:
    """The live token whose secret this is, else None (unknown, malformed or revoked)."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 128:
        return None
    wanted = digest(secret)
    row = db.query_one(SELECT_BY_HASH, (wanted,))
    if row is None or not hmac.compare_digest(str(row[8]), wanted) or row[6] is not None:
        return None
    return _row(row)


def touch(db: Database, token: Token) -> None:
    """Record use (at most once a minute per token: no write per request)."""
    now = int(time.time())
    if token.last_used_at is None or now - token.last_used_at >= 60:
        try:  # bookkeeping: never hold a request behind an import's write lock
            with db.waiting_at_most(1):
                db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, token.id))
        except DatabaseError:
            log.debug("token %s: last use not recorded (the database is busy)", token.name)
