"""A private three-node MariaDB Galera cluster on localhost, for tests and benchmarks.

Only processes it started are ever signalled. Each node has its own data directory (owned by
``mysql``: the rsync state transfer runs as the server's user), SQL port, group-communication
port, IST and SST ports. Node 1 bootstraps the cluster; the others join by state transfer.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
PROVIDER = "/usr/lib/galera/libgalera_smm.so"


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "a private Galera cluster is started as root only"
    if not Path(PROVIDER).exists():
        return f"Galera is not installed ({PROVIDER} missing: apt-get install galera-4)"
    if not (INSTALL_DB and Path(MARIADBD).exists() and shutil.which("rsync")):
        return "mariadbd, mariadb-install-db or rsync missing"
    return None


class GaleraCluster:
    def __init__(self, root: Path, nodes: int = 3):
        self.root = Path(root)
        self.n = nodes
        ports = free_ports(4 * nodes)
        self.sql = ports[0:nodes]
        self.gcomm = ports[nodes:2 * nodes]
        self.ist = ports[2 * nodes:3 * nodes]
        self.sst = ports[3 * nodes:4 * nodes]
        self.procs: list[subprocess.Popen | None] = [None] * nodes

    # -- layout ------------------------------------------------------------------------------
    def node_dir(self, i: int) -> Path:
        return self.root / f"node{i + 1}"

    def _config(self, i: int) -> Path:
        d = self.node_dir(i)
        members = ",".join(f"127.0.0.1:{p}" for p in self.gcomm)
        text = f"""[mysqld]
user=mysql
datadir={d / 'data'}
socket={d / 'sock'}
pid-file={d / 'pid'}
port={self.sql[i]}
bind-address=127.0.0.1
log-error={d / 'error.log'}
innodb_buffer_pool_size=48M
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_flush_log_at_trx_commit=2
local_infile=1
skip-name-resolve
wsrep_on=ON
wsrep_provider={PROVIDER}
wsrep_cluster_name=cctvtest
wsrep_cluster_address=gcomm://{members}
wsrep_node_address=127.0.0.1:{self.gcomm[i]}
wsrep_node_incoming_address=127.0.0.1:{self.sql[i]}
wsrep_provider_options="base_host=127.0.0.1;base_port={self.gcomm[i]};ist.recv_addr=127.0.0.1:{self.ist[i]};gcache.size=64M"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:{self.sst[i]}
wsrep_node_name=node{i + 1}
"""
        path = d / "my.cnf"
        path.write_text(text)
        return path

    def install(self) -> None:
        for i in range(self.n):
            d = self.node_dir(i)
            (d / "data").mkdir(parents=True, exist_ok=True)
            if i == 0:
                subprocess.run([INSTALL_DB, "--no-defaults", f"--datadir={d / 'data'}", "--user=mysql",
                                "--auth-root-authentication-method=normal", "--skip-test-db"],
                               check=True, capture_output=True, timeout=180)
            subprocess.run(["chown", "-R", "mysql:mysql", str(d)], check=True)
            self._config(i)

    # -- processes -----------------------------------------------------------------------------
    def start_node(self, i: int, bootstrap: bool = False, timeout: float = 120) -> None:
        d = self.node_dir(i)
        args = [MARIADBD, f"--defaults-file={d / 'my.cnf'}"]
        if bootstrap:
            args.append("--wsrep-new-cluster")
        self.procs[i] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_synced(i, timeout)

    def start(self) -> "GaleraCluster":
        self.install()
        self.start_node(0, bootstrap=True)
        for i in range(1, self.n):
            self.start_node(i)
        self.wait_size(self.n)
        return self

    def status(self, i: int, name: str) -> str | None:
        import pymysql

        try:
            conn = pymysql.connect(host="127.0.0.1", port=self.sql[i], user="root", password="",
                                   connect_timeout=2)
        except Exception:
            return None
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW STATUS LIKE %s", (name,))
                row = cur.fetchone()
                return None if row is None else str(row[1])
        finally:
            conn.close()

    def wait_synced(self, i: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status(i, "wsrep_local_state_comment") == "Synced":
                return
            proc = self.procs[i]
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"node{i + 1} exited: {self.log_tail(i)}")
            time.sleep(0.25)
        raise RuntimeError(f"node{i + 1} not synced in {timeout} s: {self.log_tail(i)}")

    def wait_size(self, size: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [i for i in range(self.n) if self.alive(i)]
            if alive and all(self.status(i, "wsrep_cluster_size") == str(size) for i in alive):
                return
            time.sleep(0.25)
        raise RuntimeError(f"cluster size did not become {size}")

    def alive(self, i: int) -> bool:
        return self.procs[i] is not None and self.procs[i].poll() is None

    def kill(self, i: int) -> None:
        """SIGKILL one node, as a crash or power loss."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            if proc is not None:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def log_tail(self, i: int, lines: int = 15) -> str:
        try:
            text = (self.node_dir(i) / "error.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- clients -------------------------------------------------------------------------------
    def admin(self, i: int):
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.sql[i], user="root", password="",
                               autocommit=True, local_infile=True)

    def url(self, database: str, *nodes: int, user: str = "root") -> str:
        """A cctvctl URL naming the given nodes (all, in order, by default)."""
        chosen = nodes or tuple(range(self.n))
        hosts = ",".join(f"127.0.0.1:{self.sql[i]}" for i in chosen)
        return f"mysql://{user}@{hosts}/{database}"
