"""Secrets: a database password never appears in anything cctvctl prints or writes, and TLS
options reach PyMySQL and are enforced.

The password is a distinctive string set in ``CCTV_DB_PASSWORD`` (and the three grant passwords
in ``CCTV_{INGEST,CRON,ANALYST}_PASSWORD``). Every command runs with it — ``--help``, ``-v``,
success and failure paths (wrong password, unreachable server, a password wrongly put in the URL,
rejected input) — and every captured stream and every file the runs left behind is searched for
it. The README, cron/ and the commands' examples never put a password in argv. TLS is checked
against a private MariaDB with a certificate of our own CA: verified, refused, and never
downgraded to clear text.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from cctvctl.cli import app
from cctvctl.db import connect, parse_url
from cctvctl.db.connect import mysql_connect_args
from cctvctl.errors import UsageError
from conftest import MYSQL_URL, mysql_admin
from mariadb_instance import free_port, private_instance

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Pw-s3cr3t-4c1d-Quokka"  # letters, digits and dashes: a leak shows verbatim
ROLE_SECRETS = {"INGEST": "Pw-ingest-77aa-Wombat", "CRON": "Pw-cron-91bf-Numbat",
                "ANALYST": "Pw-analyst-0e3c-Bilby"}
ALL_SECRETS = [SECRET, *ROLE_SECRETS.values()]

GOOD = ("camera,start,people,vehicle\n"
        + "".join(f"gate-{c},2021-01-{d:02d} {h:02d}:00,{(d * 7 + h * 3 + c) % 40},{h % 5}\n"
                  for c in (1, 2) for d in range(1, 11) for h in range(24)))
BAD = "camera,start,people,vehicle\ngate-1,2021-02-01 00:00,-3,1\ngate-1,not a time,1,1\n"


def leaks(texts: dict[str, str], folder: Path) -> list[str]:
    """Labels of captured streams, and paths of files under ``folder``, that contain a secret."""
    found = [label for label, text in texts.items() if any(s in text for s in ALL_SECRETS)]
    for path in folder.rglob("*"):
        if path.is_file() and any(s.encode() in path.read_bytes() for s in ALL_SECRETS):
            found.append(str(path))
    return found


def command_paths() -> list[list[str]]:
    """Every command and group of the app, as argv prefixes."""
    def walk(cmd, path):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + [name])

    return list(walk(typer.main.get_command(app), []))


@pytest.fixture
def secret_url(mysql_url):
    """A fresh database and an account whose password is SECRET (dropped afterwards)."""
    from conftest import require_privileged

    require_privileged("creates a MySQL account")
    u = parse_url(mysql_url)
    user = "sec_" + secrets.token_hex(4)
    admin = mysql_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY %s", (SECRET,))
        cur.execute(f"GRANT ALL ON `{u.database}`.* TO '{user}'@'127.0.0.1'")
    try:
        yield f"mysql://{user}@127.0.0.1:{u.port}/{u.database}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
        admin.close()


def test_no_command_prints_or_writes_the_password(secret_url, runner, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CCTV_DB_PASSWORD", SECRET)
    for role, value in ROLE_SECRETS.items():
        monkeypatch.setenv(f"CCTV_{role}_PASSWORD", value)
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "bad.csv").write_text(BAD)
    (tmp_path / "bad2.csv").write_text(BAD.replace("-3", "2.5"))
    u = parse_url(secret_url)
    in_url = f"mysql://{u.user}:{SECRET}@127.0.0.1:{u.port}/{u.database}"
    nowhere = f"mysql://{u.user}@127.0.0.1:{free_port()}/{u.database}"
    db = ["--db", secret_url]
    cases = [([*path, "--help"], 0) for path in command_paths()] + [
        (["--version"], 0),
        (["db", "init", *db], 0),
        (["import", "good.csv", *db], 0),
        (["import", "bad.csv", *db], 2),
        (["import", "bad.csv", "--on-error", "skip", *db], 0),  # writes bad.csv.rejected.csv
        (["aggregate", "all", *db], 0),
        (["aggregate", "all", "--format", "json", *db], 0),
        (["detect", "--since", "2021-01-01", "--until", "2021-01-10", *db], 0),
        (["detect", "--since", "2021-01-01", "--format", "csv", *db], 0),
        (["report", "--month", "2021-01", *db], 0),
        (["report", "--week", "2021-W01", "--format", "json", *db], 0),
        (["report", "--day", "2021-01-05", "--format", "markdown", *db], 0),
        (["db", "status", *db], 0),
        (["db", "status", "--format", "json", *db], 0),
        (["cron", *db], 0),
        (["db", "grants", *db, "--host", "10.0.0.%"], 0),
        (["db", "grants", *db, "--apply"], 1),  # this account may not create users
        (["sample", "--since", "2021-01-01", "--until", "2021-01-02", "-o", "sample.csv"], 0),
        (["db", "status", "--db", nowhere], 1),
        (["import", "good.csv", "--db", nowhere], 1),
        (["-v", "report", "--month", "2021-01", "--db", nowhere], 1),
        (["-v", "import", "bad2.csv", *db], 2),
    ] + [([*command, "--db", in_url], 2) for command in (
        ["db", "init"], ["db", "status"], ["db", "grants"], ["import", "good.csv"],
        ["aggregate", "all"], ["detect", "--since", "2021-01-01"], ["report", "--month", "2021-01"],
        ["cron"], ["-v", "cron"])]
    texts = {}
    for args, code in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        texts[" ".join(args)] = result.stdout + result.stderr
    for args in (["aggregate", "all"], ["detect", "--since", "2021-01-01"], ["report", "--month", "2021-01"]):
        assert "password" in texts[" ".join([*args, "--db", in_url])]  # refused, and says why

    monkeypatch.setenv("CCTV_DB_PASSWORD", SECRET + "-wrong")  # a leak of it shows SECRET too
    for args in (["db", "status", *db], ["-v", "import", "good.csv", *db]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "Access denied" in result.stderr, (args, result.output)
        texts[" ".join(args) + " (wrong password)"] = result.stdout + result.stderr
    assert "Traceback" in result.stderr  # -v shows the traceback: without the password

    # the installed entry point with -v: debug logging and tracebacks as a user sees them
    wrong = {**os.environ, "CCTV_DB_PASSWORD": SECRET + "-wrong"}
    right = {**os.environ, "CCTV_DB_PASSWORD": SECRET}
    runs = [(["-v", "import", "good.csv", *db], right, 0),
            (["-v", "aggregate", "all", *db], right, 0),
            (["-v", "db", "status", *db], wrong, 1),
            (["-v", "report", "--month", "2021-01", "--db", nowhere], right, 1)]
    for args, env, code in runs:
        proc = subprocess.run([str(Path(sys.executable).with_name("cctvctl")), *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == code, (args, proc.stderr[-2000:])
        assert (" DEBUG SQL " if code == 0 else "Traceback") in proc.stderr
        texts[f"$ cctvctl {' '.join(args)}"] = proc.stdout + proc.stderr
    assert (tmp_path / "bad.csv.rejected.csv").exists() and (tmp_path / "sample.csv").exists()
    assert leaks(texts, tmp_path) == []


def test_the_leak_check_can_fail(tmp_path):
    (tmp_path / "log.txt").write_text(f"connecting with {SECRET}\n")
    assert leaks({"out": "nothing", "err": f"x {ROLE_SECRETS['CRON']} y"}, tmp_path) == [
        "err", str(tmp_path / "log.txt")]


# -- documentation: no password in argv ------------------------------------------------------
ARGV_PASSWORD = [
    (re.compile(r"\b[a-z][a-z0-9+]*://[^/\s:@'\"]+:[^@\s/'\"]+@"), "a password inside a URL"),
    (re.compile(r"\b(?:mysql|mariadb|mysqldump|mysqladmin)\b[^\n|;]*\s(?:-p\S|--password(?:=|\s+)\S)"),
     "a password option of a MySQL client"),
    (re.compile(r"IDENTIFIED BY '(?!<password>')"), "a literal password in SQL"),
    (re.compile(r"\bCCTV_[A-Z_]*PASSWORD=(?![…\s]|\.\.\.|\$|<)"), "a literal password in a command"),
]


def argv_passwords(text: str) -> list[str]:
    return [f"{why}: {m.group(0)!r}" for pattern, why in ARGV_PASSWORD for m in pattern.finditer(text)]


def test_readme_cron_and_examples_never_put_a_password_in_argv():
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in [ROOT / "README.md",
                                                               *(ROOT / "docs").glob("*.md")]}
    texts.update({str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "cron").iterdir() if p.is_file()})
    for path in command_paths():
        cmd = typer.main.get_command(app)
        for name in path:
            cmd = cmd.commands[name]
        texts["cctvctl " + " ".join(path)] = cmd.help or ""
    problems = {name: argv_passwords(text) for name, text in texts.items()}
    assert {name: p for name, p in problems.items() if p} == {}
    cron_text = "".join(v for k, v in texts.items() if k.startswith("cron"))
    assert not re.search(r"(?m)^\s*[A-Z_]*PASSWORD\s*=", cron_text), "a password assigned in cron/"


def test_every_mysql_url_option_is_documented():
    from cctvctl.db.connect import MYSQL_OPTIONS

    manual = (ROOT / "docs" / "operations.md").read_text()  # the README links there
    assert sorted(o for o in MYSQL_OPTIONS if not re.search(rf"\b{o}\b", manual)) == []


@pytest.mark.parametrize("text", [
    "cctvctl --db mysql://cctv:hunter2@db:3306/cctv report --month 2021-08",
    "mysql -u root -phunter2 cctv < grants.sql",
    "mariadb --password=hunter2 -e 'select 1'",
    "CREATE USER 'x'@'%' IDENTIFIED BY 'hunter2';",
    "CCTV_DB_PASSWORD=hunter2 cctvctl import counts.csv",
])
def test_the_argv_check_can_fail(text):
    assert argv_passwords(text)


@pytest.mark.parametrize("text", [
    "cctvctl --db mysql://cctv_ingest@db.example.org:3306/cctv import counts.csv",
    "CCTV_INGEST_PASSWORD=… cctvctl db grants --apply",
    "CREATE USER IF NOT EXISTS 'cctv_ingest'@'10.0.0.%' IDENTIFIED BY '<password>';",
    "sqlite:///var/lib/cctv/cctv.db",
])
def test_the_argv_check_passes_placeholders(text):
    assert argv_passwords(text) == []


# -- TLS ---------------------------------------------------------------------------------------
def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, a server certificate it signed for DNS name ``localhost`` only, and a rogue CA."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name in ("ca", "rogue"):
        _openssl("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "3",
                 "-subj", f"/CN=cctvctl test {name}", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
                               "keyUsage=digitalSignature,keyEncipherment\n"
                               "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n")
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "3", "-extfile", "ext.cnf", cwd=d)
    return d


@pytest.mark.parametrize("query,verify_mode,check_hostname", [
    ("ssl_ca={ca}", ssl.CERT_REQUIRED, True),
    ("ssl_ca={ca}&ssl_verify_identity=false", ssl.CERT_REQUIRED, False),
    ("ssl_ca={ca}&ssl_verify_cert=true&ssl_verify_identity=true", ssl.CERT_REQUIRED, True),
    ("ssl_ca={ca}&ssl_verify_cert=false", ssl.CERT_NONE, False),
    ("ssl_verify_cert=true", ssl.CERT_REQUIRED, True),  # the system's CAs
    ("ssl_ca={ca}&ssl_cert={d}/server.pem&ssl_key={d}/server.key", ssl.CERT_REQUIRED, True),
])
def test_url_tls_options_become_pymysqls_ssl_argument(certs, query, verify_mode, check_hostname):
    url = parse_url("mysql://cctv@db.example.org:3306/cctv?" + query.format(ca=certs / "ca.pem", d=certs))
    ctx = mysql_connect_args(url, None)["ssl"]
    assert isinstance(ctx, ssl.SSLContext)
    assert (ctx.verify_mode, ctx.check_hostname) == (verify_mode, check_hostname)
    if "ssl_ca" in query:
        assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "cctvctl test ca"),),)]


def test_no_tls_option_means_no_ssl_argument():
    assert "ssl" not in mysql_connect_args(parse_url("mysql://cctv@db:3306/cctv?connect_timeout=3"), None)


@pytest.mark.parametrize("query,message", [
    ("ssl_verify_cert=maybe", "must be true or false"),
    ("ssl_verify_cert=false&ssl_verify_identity=true", "needs the certificate verified"),
    ("ssl_key={d}/server.key", "ssl_key needs ssl_cert"),
    ("ssl_ca={d}/missing.pem", "missing.pem does not exist"),
    ("ssl_ca={d}/server.key", "cannot load ssl_ca"),
    ("ssl_cert={d}/ca.pem&ssl_key={d}/server.key", "cannot load ssl_cert"),
])
def test_bad_tls_options_are_usage_errors(certs, query, message, runner):
    url = "mysql://cctv@db.example.org:3306/cctv?" + query.format(d=certs)
    with pytest.raises(UsageError, match=message):
        mysql_connect_args(parse_url(url), None)
    result = runner.invoke(app, ["db", "status", "--db", url])
    assert result.exit_code == 2 and message in result.stderr


@pytest.fixture(scope="module")
def tls_mariadb(certs, tmp_path_factory):
    """A private MariaDB that offers TLS with the certificate of our CA."""
    yield from private_instance(tmp_path_factory.mktemp("mariadb-tls"), (
        f"--ssl-ca={certs / 'ca.pem'}", f"--ssl-cert={certs / 'server.pem'}",
        f"--ssl-key={certs / 'server.key'}"))


def _cipher(url: str) -> str:
    with connect(url, migrate=False) as db:
        return db.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")[0][1]


@pytest.mark.parametrize("host,query,refusal", [
    ("localhost", "ssl_ca={d}/ca.pem", None),  # chain and name verified
    ("127.0.0.1", "ssl_ca={d}/ca.pem", "IP address mismatch"),  # the certificate names localhost
    ("127.0.0.1", "ssl_ca={d}/ca.pem&ssl_verify_identity=false", None),  # chain still verified
    ("localhost", "ssl_ca={d}/rogue.pem", "certificate verify failed"),  # another CA
    ("localhost", "ssl_ca={d}/rogue.pem&ssl_verify_identity=false", "certificate verify failed"),
    ("localhost", "ssl_ca={d}/rogue.pem&ssl_verify_cert=false", None),  # encryption only
])
def test_tls_against_a_real_server(tls_mariadb, certs, host, query, refusal, runner):
    url = f"mysql://root@{host}:{tls_mariadb.port}/mysql?" + query.format(d=certs)
    if refusal is None:
        assert _cipher(url)  # the session is encrypted
        return
    result = runner.invoke(app, ["db", "status", "--db", url])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot connect to MySQL at {host}:{tls_mariadb.port}: ")
    assert refusal in result.stderr and len(result.stderr.splitlines()) == 1


def test_tls_options_never_fall_back_to_clear_text(certs, runner):
    """The shared test server has TLS disabled: asking for TLS is refused, not ignored."""
    from conftest import require_mysql

    require_mysql()
    u = parse_url(MYSQL_URL)
    url = f"mysql://{u.user or 'root'}@{u.host}:{u.port}/mysql?ssl_ca={certs / 'ca.pem'}"
    with mysql_admin().cursor() as cur:
        cur.execute("SHOW VARIABLES LIKE 'have_ssl'")
        if cur.fetchone()[1] == "YES":
            pytest.skip("the shared test server offers TLS")
    result = runner.invoke(app, ["db", "status", "--db", url])
    assert result.exit_code == 1
    assert "SSL is required but the server doesn't support it" in result.stderr


# -- H4: no clear-text password to a server that asks for one (issue 12) ---------------------
CAPS = (1 | 2 | 4 | 8 | 512 | 8192 | 32768 | (1 << 17) | (1 << 19) | (1 << 21))  # no SSL


def _packet(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def _greeting(plugin: bytes) -> bytes:
    import struct

    salt = b"abcdefgh" + b"ijklmnopqrst"
    return (b"\x0a" + b"8.0.36-fake\0" + struct.pack("<I", 7) + salt[:8] + b"\0"
            + struct.pack("<H", CAPS & 0xFFFF) + bytes([45]) + struct.pack("<H", 2)
            + struct.pack("<H", CAPS >> 16) + bytes([21]) + b"\0" * 10 + salt[8:] + b"\0"
            + plugin + b"\0")


class FakeMysql:
    """A socket server speaking just enough of the MySQL handshake to ask for the password in
    clear text (an auth switch to ``mysql_clear_password`` or ``dialog``, or that plugin in the
    greeting); it records every byte the client sends."""

    def __init__(self, plugin: bytes, switch: bool):
        import socket
        import threading

        self.plugin, self.switch = plugin, switch
        self.received = b""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import socket

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(3)
            try:
                conn.sendall(_packet(0, _greeting(b"mysql_native_password" if self.switch else self.plugin)))
                self._read(conn)  # the handshake response
                if self.switch:
                    data = b"\x02Password: " if self.plugin == b"dialog" else b""
                    conn.sendall(_packet(2, b"\xfe" + self.plugin + b"\0" + data))
                else:  # the greeting named the plugin: ask for more of its data
                    conn.sendall(_packet(2, b"\x01"))
                while self._read(conn):  # whatever the client answers, until it hangs up
                    pass
            except (socket.timeout, OSError):
                pass
            finally:
                conn.close()

    def _read(self, conn) -> bytes:
        chunk = conn.recv(65536)
        self.received += chunk
        return chunk

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("plugin,switch", [(b"mysql_clear_password", True), (b"dialog", True),
                                           (b"mysql_clear_password", False)])
def test_clear_text_auth_is_refused_without_tls_and_the_password_never_sent(plugin, switch, tmp_path):
    server = FakeMysql(plugin, switch)
    try:
        env = dict(os.environ, CCTV_DB_PASSWORD=SECRET, HOME=str(tmp_path))
        proc = subprocess.run(["cctvctl", "--db", f"mysql://app@127.0.0.1:{server.port}/cctv",
                               "db", "status"], capture_output=True, text=True, env=env, timeout=60)
    finally:
        server.close()
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: cannot connect to MySQL at 127.0.0.1:{server.port}: "
                                  f"the server asked for the password in clear text "
                                  f"({plugin.decode()} authentication)"), proc.stderr
    assert proc.stderr.count("\n") == 1
    assert b"app" in server.received  # the client did talk to it
    assert SECRET.encode() not in server.received


def test_the_fake_server_would_see_a_clear_text_password():
    """The check above can fail: PyMySQL left to itself sends the password to the fake server."""
    import pymysql

    server = FakeMysql(b"mysql_clear_password", True)
    try:
        with pytest.raises(Exception):
            pymysql.connect(host="127.0.0.1", port=server.port, user="app", password=SECRET,
                            database="cctv", connect_timeout=3)
        server.thread.join(timeout=5)
    finally:
        server.close()
    assert SECRET.encode() in server.received


def test_clear_text_guard_is_on_every_connection():
    from cctvctl.db.connect import CLEAR_TEXT_GUARDS

    args = mysql_connect_args(parse_url("mysql://u@h:3306/d"), "pw")
    assert args["auth_plugin_map"] is CLEAR_TEXT_GUARDS
    assert set(CLEAR_TEXT_GUARDS) == {b"mysql_clear_password", b"dialog"}


# -- M1: a malformed option file is reported without its lines (issue 12) ----------------------
@pytest.mark.parametrize("text", [
    f"password={SECRET}\nuser=x\n",  # no group header: the first line is the password
    f"[client]\npassword={SECRET}\n[client]\nuser=y\n",
    f"[client]\npassword={SECRET}\npassword={SECRET}x\n",
    f"[client]\n{SECRET}\n  \t=x\n",
    f"[client\npassword={SECRET}\n",
])
@pytest.mark.parametrize("flags", [[], ["--quiet"], ["-v"]])
def test_a_malformed_my_cnf_never_shows_its_lines(text, flags, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".my.cnf").write_text(text)
    env = dict(os.environ, HOME=str(home))
    env.pop("CCTV_DB_PASSWORD", None)
    proc = subprocess.run(["cctvctl", "--db", "mysql://app@127.0.0.1:9/cctv", "db", "init", *flags],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode in (1, 2)  # refused (2), or read and then no server on port 9 (1)
    assert SECRET not in proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("error: ")


def test_error_lines_never_carry_an_environment_password(monkeypatch, capsys):
    from cctvctl.cli.output import error_line

    monkeypatch.setenv("CCTV_DB_PASSWORD", SECRET)
    monkeypatch.setenv("CCTV_CRON_PASSWORD", ROLE_SECRETS["CRON"])
    error_line(f"unexpected ValueError: bad {SECRET} and {ROLE_SECRETS['CRON']}")
    assert capsys.readouterr().err == "error: unexpected ValueError: bad *** and ***\n"
