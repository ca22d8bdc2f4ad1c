"""A private, disposable MariaDB server for fault tests (so killing it harms no other test)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDBInstance:
    def __init__(self, root: Path, extra_args: tuple[str, ...] = ()):
        self.root = root
        self.extra_args = tuple(extra_args)  # more mariadbd options, e.g. TLS certificates
        self.datadir = root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> str | None:
        if os.geteuid() != 0:
            return "a private MariaDB instance is started as root only"
        if not (INSTALL_DB and Path(MARIADBD).exists()):
            return "mariadbd / mariadb-install-db not installed"
        return None

    def install(self) -> None:
        subprocess.run([INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)

    def start(self, timeout: float = 60) -> None:
        log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.root / 'sock'}",
             f"--pid-file={self.root / 'pid'}", "--user=root", "--innodb-buffer-pool-size=32M",
             "--skip-log-bin", "--local-infile=1", *self.extra_args],
            stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited: see {self.root / 'server.log'}")
            time.sleep(0.2)
        raise RuntimeError("private mariadbd did not answer in time")

    def answers(self) -> bool:
        import pymysql

        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                            connect_timeout=1).close()
            return True
        except Exception:
            return False

    def admin(self):
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                               autocommit=True)

    def kill(self) -> None:
        """SIGKILL: the server dies as in a crash or power loss, mid-transaction."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def url(self, database: str = "cctv", user: str = "root") -> str:
        return f"mysql://{user}@127.0.0.1:{self.port}/{database}"


def private_instance(root: Path, extra_args: tuple[str, ...] = ()) -> Iterator[MariaDBInstance]:
    """Body of a fixture: a started private server, killed afterwards; skipped without
    CCTV_TEST_PRIVILEGED=1 and where it cannot run (not root, not installed), a failure there
    when CCTV_REQUIRE_MYSQL=1."""
    import pytest

    if os.environ.get("CCTV_TEST_PRIVILEGED") != "1":
        pytest.skip("starts a private MariaDB server: runs only with CCTV_TEST_PRIVILEGED=1")

    reason = MariaDBInstance.available()
    if reason:
        if os.environ.get("CCTV_REQUIRE_MYSQL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    inst = MariaDBInstance(root, extra_args)
    inst.install()
    inst.start()
    try:
        yield inst
    finally:
        inst.kill()
