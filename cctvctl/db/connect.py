"""Database URL → an open, migrated :class:`Database`.

``sqlite:///abs/path.db``, ``sqlite://relative.db``, ``sqlite://:memory:`` or a bare ``*.db``
path; ``mysql://user@host:3306/dbname?ssl_ca=…``. A MySQL password never travels in the URL
or argv: it comes from ``CCTV_DB_PASSWORD`` or a MySQL option file (``~/.my.cnf`` or
``?read_default_file=``), and no message ever contains it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from cctvctl.config import ENV_PASSWORD
from cctvctl.db.database import Database
from cctvctl.db.dialect import MysqlDialect, SqliteDialect, mysql_reason
from cctvctl.errors import DatabaseError, UsageError

log = logging.getLogger(__name__)

MYSQL_OPTIONS = {"ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity",
                 "read_default_file", "read_default_group", "connect_timeout", "unix_socket",
                 "charset"}


@dataclass(frozen=True)
class DbUrl:
    backend: str  # "sqlite" or "mysql"
    path: str | None = None  # sqlite file, or ":memory:"
    host: str | None = None
    port: int = 3306
    user: str | None = None
    database: str | None = None
    options: dict = field(default_factory=dict)
    #: every (host, port) the URL names, in order (a cluster: the first that answers is used)
    hosts: tuple[tuple[str, int], ...] = ()

    def display(self) -> str:
        """A printable form that can never contain a secret."""
        if self.backend == "sqlite":
            return f"sqlite://{self.path}"
        who = f"{self.user}@" if self.user else ""
        return f"mysql://{who}{self._hosts_text()}/{self.database or ''}"

    def _hosts_text(self) -> str:
        return ",".join(hostport(h, p) for h, p in (self.hosts or ((self.host, self.port),)))

    @property
    def where(self) -> str:
        return self.path if self.backend == "sqlite" else hostport(self.host, self.port)

    def at(self, host: str, port: int) -> "DbUrl":
        """The same URL pointing at one of its hosts."""
        from dataclasses import replace

        return replace(self, host=host, port=port)

    def anchored(self, text: str) -> str:
        """``text`` (the URL this was parsed from) usable from any working directory: an
        SQLite file's relative path made absolute (cron starts in $HOME, where a relative path
        would name some other, empty, file); any other URL unchanged."""
        if self.backend == "sqlite" and self.path != ":memory:":
            return f"sqlite://{os.path.abspath(self.path)}"
        return text


def hostport(host: str, port: int) -> str:
    """``db1:3306``, ``[::1]:3306`` (an IPv6 address is bracketed, as in the URL)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_url(url: str) -> DbUrl:
    if "://" not in url:
        if url.endswith((".db", ".sqlite", ".sqlite3")) or url == ":memory:":
            return DbUrl("sqlite", path=os.path.expanduser(url))
        raise UsageError("database URL must start with sqlite:// or mysql:// (see --db)")
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme == "sqlite":
        path = rest.split("?", 1)[0] or ":memory:"
        path = unquote(path)
        if path.startswith("/~"):  # sqlite:///~/cctv.db: the user's home, not a folder named ~
            path = path[1:]
        return DbUrl("sqlite", path=os.path.expanduser(path))
    if scheme in ("mysql", "mariadb", "mysql+pymysql"):
        netloc = rest.split("/", 1)[0].split("?", 1)[0]
        user_part, _, host_part = netloc.rpartition("@")
        hosts = _parse_hosts(host_part) if "," in host_part else None
        if hosts is not None:  # urlsplit reads one host: give it the first, keep the list
            rest = rest.replace(host_part, host_part.split(",", 1)[0], 1)
        parts = urlsplit("mysql://" + rest)
        if parts.password is not None:
            raise UsageError(f"do not put the password in the database URL; set {ENV_PASSWORD} "
                             "or use a MySQL option file (~/.my.cnf)")
        options = dict(parse_qsl(parts.query))
        unknown = set(options) - MYSQL_OPTIONS
        if unknown:
            raise UsageError(f"unknown MySQL URL option(s): {', '.join(sorted(unknown))}")
        database = parts.path.lstrip("/") or None
        try:
            port = parts.port or 3306
        except ValueError:
            raise UsageError("invalid port in database URL") from None
        host = parts.hostname or "localhost"
        return DbUrl("mysql", host=host, port=port,
                     user=unquote(parts.username) if parts.username else None,
                     database=unquote(database) if database else None, options=options,
                     hosts=hosts or ((host, port),))
    raise UsageError(f"unsupported database scheme {scheme!r}: use sqlite:// or mysql://")


def _parse_hosts(text: str) -> tuple[tuple[str, int], ...]:
    """``db1,db2:3307,db3,[fd00::7]:3307`` → ((db1, 3306), (db2, 3307), (db3, 3306),
    (fd00::7, 3307)): an IPv6 address in brackets, as in a one-host URL."""
    found = []
    for item in text.split(","):
        item = item.strip()
        if item.startswith("["):
            host, bracket, port = item[1:].partition("]")
            port = port[1:] if bracket and port.startswith(":") else ("x" if port or not bracket else "")
        else:
            host, _, port = item.partition(":")
        if not host or (port and not port.isdigit()) or (port and not 0 < int(port) < 65536):
            raise UsageError(f"invalid host {item!r} in the database URL's host list "
                             "(expected host, host:port or [IPv6]:port, separated by commas)")
        found.append((host, int(port) if port else 3306))
    return tuple(found)


def connect(url: str | DbUrl, *, migrate: bool = True, create: bool = True) -> Database:
    """Open the database; with ``migrate`` apply pending schema migrations first."""
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.backend == "sqlite":
        db = _connect_sqlite(parsed, create=create)
    else:
        db = _connect_mysql(parsed)
    if migrate:
        from cctvctl.db.schema import migrate as run_migrations

        try:
            _migrate(db, run_migrations)
        except BaseException:
            db.close()
            raise
    return db


#: a concurrent migration on another node got there first: table/column/key exists, row exists,
#: can't drop what is gone, certification conflict
RACE_CODES = (1050, 1060, 1061, 1062, 1091, 1213)


def _migrate(db: Database, run_migrations) -> None:
    """Migrate; on a Galera cluster, again after losing a race with another node migrating the
    same new database (the migration lock is per node there; every step is safe to repeat)."""
    import time

    for attempt in range(6):
        try:
            run_migrations(db)
            return
        except DatabaseError as exc:
            if not db.cluster or getattr(exc, "code", None) not in RACE_CODES or attempt == 5:
                raise
            log.debug("migration raced another node (%s); again", exc)
            time.sleep(0.3 * (attempt + 1))


def _connect_sqlite(url: DbUrl, create: bool) -> Database:
    path = url.path or ":memory:"
    if path != ":memory:":
        p = Path(path)
        if not p.exists():
            if not create:
                raise DatabaseError(f"no database at {path} (run `cctvctl db init`)")
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot create {p.parent}: {exc.strerror}") from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 60000")
        if path != ":memory:":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            log.debug("sqlite journal_mode=%s", mode)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open SQLite database {path}: {exc}") from None
    return Database(conn, SqliteDialect(), url)


def _connect_mysql(url: DbUrl) -> Database:
    """The first host of the URL that answers and, where it is a Galera node, is a synced
    member ready for queries (``wsrep_ready``)."""
    problems = []
    for host, port in url.hosts or ((url.host, url.port),):
        one = url.at(host, port)
        try:
            db = _connect_mysql_host(one)
        except DatabaseError as exc:
            if len(url.hosts) <= 1:
                raise
            problems.append(str(exc))
            log.debug("%s", exc)
            continue
        if len(url.hosts) > 1:
            if not db.cluster:  # a failover to an independent server would split the counts
                db.close()
                raise UsageError(f"the database URL lists {len(url.hosts)} hosts, but "
                                 f"{hostport(host, port)} is not a Galera cluster node (wsrep_on "
                                 "is OFF): a host list is for the nodes of one cluster; name one host")
            log.debug("connected to %s (Galera node)", hostport(host, port))
        return db
    raise DatabaseError("no host of the database URL is usable: " + "; ".join(problems))


def _connect_mysql_host(url: DbUrl) -> Database:
    password = os.environ.get(ENV_PASSWORD)
    kwargs = mysql_connect_args(url, password)
    # LOCAL INFILE is offered to the server only behind the guard that restricts it to the one
    # file cctvctl writes for its own bulk load (see local_infile.py).
    from cctvctl.db import local_infile

    kwargs["local_infile"] = local_infile.install_guard()
    conn = _open_mysql(url, kwargs, password)
    cluster = _cluster_session(conn, url)

    def opener():
        """A second connection for a run lock: no LOCAL INFILE, UPDATE counts rows matched."""
        from pymysql.constants import CLIENT

        return _open_mysql(url, dict(kwargs, local_infile=False, client_flag=CLIENT.FOUND_ROWS),
                           password)

    db = Database(conn, MysqlDialect(), url, opener=opener)
    db.cluster = cluster
    return db


def _cluster_session(conn, url: DbUrl) -> bool:
    """Whether the server is a Galera node; if so, refuse a node that is not ready and make
    this session's reads causal (``wsrep_sync_wait``: a read sees every commit made on any
    node before it), which aggregation, detection and alerts need after imports elsewhere."""
    import pymysql

    try:
        with conn.cursor() as cur:
            cur.execute("SHOW VARIABLES LIKE 'wsrep_on'")
            row = cur.fetchone()
            if not row or str(row[1]).upper() != "ON":
                return False
            cur.execute("SHOW STATUS LIKE 'wsrep_ready'")
            ready = cur.fetchone()
            if not ready or str(ready[1]).upper() != "ON":
                raise DatabaseError(f"cannot use MySQL at {hostport(url.host, url.port)}: the Galera node is "
                                    "not a ready cluster member (wsrep_ready=OFF)")
            cur.execute("SET SESSION wsrep_sync_wait = 1")
    except pymysql.err.MySQLError as exc:
        conn.close()
        raise DatabaseError(f"cannot use MySQL at {hostport(url.host, url.port)}: {mysql_reason(exc)}") from None
    except DatabaseError:
        conn.close()
        raise
    return True


def _open_mysql(url: DbUrl, kwargs: dict, password: str | None):
    import pymysql

    try:
        return pymysql.connect(**kwargs)
    except pymysql.err.MySQLError as exc:
        raise DatabaseError(f"cannot connect to MySQL at {hostport(url.host, url.port)}: "
                            f"{mysql_reason(exc, password)}") from None
    except OSError as exc:  # ssl.SSLError (a refused certificate) is an OSError too
        raise DatabaseError(f"cannot connect to MySQL at {hostport(url.host, url.port)}: "
                            f"{getattr(exc, 'reason', None) or exc.strerror or exc}") from None


#: the session sql_mode cctvctl's SQL is written for, set on every connection: whatever the
#: server's own mode (NO_BACKSLASH_ESCAPES, ANSI_QUOTES, PIPES_AS_CONCAT …), a statement means
#: the same; strict, so a value that does not fit is an error, never a silent truncation
SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
TLS_FILES = ("ssl_ca", "ssl_cert", "ssl_key")


def _flag(options: dict, name: str) -> bool | None:
    value = options.get(name)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise UsageError(f"MySQL URL option {name} must be true or false, not {value!r}")


def tls_context(options: dict):
    """The URL's ``ssl_*`` options as the ``ssl.SSLContext`` PyMySQL gets (None: no TLS option).

    Any TLS option makes TLS required (a server without it is refused, never used in clear
    text), and the server's certificate and host name are verified — against ``ssl_ca``, else
    the system's CAs — unless ``ssl_verify_identity=false`` (skip the name) or
    ``ssl_verify_cert=false`` (encryption only) say otherwise. We build the context ourselves
    because PyMySQL's own mapping of these options silently turns verification off in places.
    """
    import ssl

    if not any(name in options for name in TLS_FILES + ("ssl_verify_cert", "ssl_verify_identity")):
        return None
    verify_cert = _flag(options, "ssl_verify_cert")
    verify_identity = _flag(options, "ssl_verify_identity")
    if verify_identity and verify_cert is False:
        raise UsageError("ssl_verify_identity=true needs the certificate verified: drop ssl_verify_cert=false")
    verify_cert = True if verify_cert is None else verify_cert
    verify_identity = verify_cert if verify_identity is None else verify_identity
    files = {name: os.path.expanduser(options[name]) for name in TLS_FILES if options.get(name)}
    if "ssl_key" in files and "ssl_cert" not in files:
        raise UsageError("ssl_key needs ssl_cert (the client certificate it belongs to)")
    for name, path in files.items():
        if not os.path.isfile(path):
            raise UsageError(f"{name} file {path} does not exist (database URL)")
    try:
        ctx = ssl.create_default_context(cafile=files.get("ssl_ca"))
    except OSError as exc:  # ssl.SSLError included
        raise UsageError(f"cannot load ssl_ca {files['ssl_ca']}: {exc}") from None
    if "ssl_cert" in files:
        try:
            ctx.load_cert_chain(files["ssl_cert"], keyfile=files.get("ssl_key"))
        except OSError as exc:
            raise UsageError(f"cannot load ssl_cert {files['ssl_cert']}: {exc}") from None
    ctx.check_hostname = verify_identity
    ctx.verify_mode = ssl.CERT_REQUIRED if verify_cert else ssl.CERT_NONE
    return ctx


def mysql_connect_args(url: DbUrl, password: str | None) -> dict:
    """PyMySQL's keyword arguments for ``url`` (the password only from the caller, never the URL)."""
    kwargs = dict(host=url.host, port=url.port, user=url.user, database=url.database,
                  charset=url.options.get("charset", "utf8mb4"), autocommit=True, sql_mode=SQL_MODE,
                  connect_timeout=int(url.options.get("connect_timeout", 10)))
    if password is not None:
        kwargs["password"] = password
    option_file = url.options.get("read_default_file")
    if option_file is None and password is None:
        default_cnf = Path.home() / ".my.cnf"
        if default_cnf.exists():
            option_file = str(default_cnf)
    if option_file:  # read by cctvctl, not PyMySQL: repeated groups merge, errors quote nothing
        from cctvctl.db.optionfile import connect_options

        kwargs.update(connect_options(os.path.expanduser(option_file),
                                      url.options.get("read_default_group", "client"), kwargs))
    if url.options.get("unix_socket"):
        kwargs["unix_socket"] = url.options["unix_socket"]
    if kwargs["database"] is None:
        raise UsageError("the MySQL URL needs a database name: mysql://user@host:3306/cctv")
    ssl = tls_context(url.options)
    if ssl is not None:
        kwargs["ssl"] = ssl
    kwargs["auth_plugin_map"] = CLEAR_TEXT_GUARDS
    return kwargs


def _clear_text_refusal(plugin: str):
    def __init__(self, conn):
        import pymysql

        if not getattr(conn, "_secure", False):
            raise pymysql.err.OperationalError(
                2059, f"the server asked for the password in clear text ({plugin} "
                      "authentication) on a connection without TLS: refused, the password was not "
                      "sent (use TLS: ssl_ca=... in the database URL)")
        self.conn = conn

    return __init__


class _ClearPasswordGuard:
    """``mysql_clear_password`` only over TLS, as libmysqlclient does (PyMySQL would send the
    password in clear text to any server that asks)."""

    __init__ = _clear_text_refusal("mysql_clear_password")

    def authenticate(self, pkt):  # reached only under TLS: the plugin's own exchange
        self.conn.write_packet(self.conn.password + b"\0")
        pkt = self.conn._read_packet()
        pkt.check_error()
        return pkt


class _DialogGuard:
    """``dialog`` (PAM) sends the password as typed: only over TLS; no ``authenticate``, so
    PyMySQL's own dialog exchange runs once the guard lets it."""

    __init__ = _clear_text_refusal("dialog")


#: PyMySQL's auth_plugin_map: the plugins that put the password on the wire as it is
CLEAR_TEXT_GUARDS = {b"mysql_clear_password": _ClearPasswordGuard, b"dialog": _DialogGuard}
