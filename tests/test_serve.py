"""`cctvctl serve`: a real server process on loopback, a real HTTP client (httpx), both backends."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")

TZ = "Asia/Seoul"


def _cctvctl() -> str:
    return str(Path(sys.executable).with_name("cctvctl"))


def run(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "CCTV_TZ": TZ}
    proc = subprocess.run([_cctvctl(), "--db", url, *args], capture_output=True, text=True,
                          env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


class Server:
    def __init__(self, url: str, log: Path, *extra: str, env: dict | None = None):
        self.url, self.log = url, log
        env = {**os.environ, "CCTV_TZ": TZ, **(env or {})}
        self.proc = subprocess.Popen([_cctvctl(), "--db", url, "serve", "--port", "0", *extra],
                                     stderr=open(log, "wb"), stdout=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"listening on (https?)://127\.0\.0\.1:(\d+)", log.read_text())
            if m:
                self.base = f"{m[1]}://127.0.0.1:{m[2]}"
                self.port = int(m[2])
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"server did not start: {log.read_text()}")

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text():
            assert time.monotonic() < deadline, f"server never said {text!r}: {self.log.read_text()}"
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


@contextmanager
def serving(url: str, tmp_path: Path, *extra: str, env: dict | None = None):
    server = Server(url, tmp_path / f"serve-{time.monotonic_ns()}.log", *extra, env=env)
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture
def api(db_url, tmp_path):
    """A server on each backend, with a writer token for gate-* and a read token for '*'."""
    writer = run(db_url, "token", "create", "--name", "box-1", "--camera", "gate-*").stdout.strip()
    reader = run(db_url, "token", "create", "--name", "dash", "--camera", "*", "--read",
                 "--no-write").stdout.strip()
    with serving(db_url, tmp_path) as server:
        server.writer, server.reader = writer, reader
        yield server


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def csv_batch(camera: str = "gate-1", day: str = "2021-08-01", n: int = 12, base: int = 10) -> str:
    lines = ["camera,start,people,vehicle"]
    for i in range(n):
        lines.append(f"{camera},{day} {i // 12:02d}:{i % 12 * 5:02d},{base + i},{i % 3}")
    return "\n".join(lines) + "\n"


def post_csv(server, text: str, token: str | None = None, **params):
    return httpx.post(f"{server.base}/v1/counts", content=text.encode(), params=params,
                      headers={"Content-Type": "text/csv", **bearer(token or server.writer)}, timeout=60)


def stored(url: str) -> list[tuple]:
    from cctvctl.db import connect

    with connect(url) as db:
        return db.query("SELECT camera, start_utc, end_utc, people, vehicle FROM counts "
                        "ORDER BY camera, start_utc")


def test_a_posted_batch_equals_an_import_of_the_same_rows(api, tmp_path):
    text = csv_batch(n=24)
    answer = post_csv(api, text)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["inserted"], body["source"]) == ("ok", 24, "serve:box-1")
    path = tmp_path / "same.csv"
    path.write_text(text)
    other = f"sqlite:///{tmp_path / 'imported.db'}"
    run(other, "import", str(path))
    assert stored(api.url) == stored(other)
    report = httpx.get(f"{api.base}/v1/report", params={"day": "2021-08-01"}, headers=bearer(api.reader))
    expected = run(other, "report", "--day", "2021-08-01", "--format", "json").stdout
    assert report.status_code == 200
    assert json.loads(report.text)["cameras"] == json.loads(expected)["cameras"]


def test_json_rows_are_imported_like_csv(api):
    rows = [{"camera": "gate-2", "start": f"2021-08-01 00:{m:02d}", "people": m} for m in (0, 5, 10)]
    answer = httpx.post(f"{api.base}/v1/counts", json={"rows": rows}, headers=bearer(api.writer))
    assert answer.status_code == 200, answer.text
    assert answer.json()["inserted"] == 3
    assert [r[3] for r in stored(api.url)] == [0, 5, 10]


def test_the_same_batch_twice_and_from_two_clients_at_once_is_stored_once(api):
    text = csv_batch(n=36)
    answers: list = []

    def send():
        answers.append(post_csv(api, text))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [200, 200]
    assert sorted(a.json()["status"] for a in answers) == ["ok", "unchanged"]
    again = post_csv(api, text)
    assert again.json()["status"] == "unchanged"
    assert len(stored(api.url)) == 36


def test_auth_and_scope_matrix(api):
    base, text = api.base, csv_batch()
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    cases = [
        (httpx.post(f"{base}/v1/counts", content=text, headers={"Content-Type": "text/csv"}), 401),
        (post_csv(api, text, token="cctv_" + "x" * 43), 401),
        (post_csv(api, text, token="not-even-a-token"), 401),
        (httpx.get(f"{base}/v1/status"), 401),
        (httpx.get(f"{base}/v1/status", headers=bearer(api.writer)), 403),  # write-only token
        (post_csv(api, text, token=api.reader), 403),  # read-only token
        (post_csv(api, csv_batch(camera="lobby")), 403),  # outside gate-*
        (httpx.get(f"{base}/v1/outliers", params={"since": "2021-08-01"}, headers=bearer(api.reader)), 200),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        if status != 200:
            error = response.json()["error"]
            assert set(error) >= {"code", "message"}
    assert cases[0][0].headers["WWW-Authenticate"].startswith("Bearer")
    assert "may not post camera 'lobby'; nothing was written" in cases[6][0].json()["error"]["message"]
    # a batch with one camera outside the scope writes nothing at all
    mixed = csv_batch() + "lobby,2021-08-01 03:00,1,1\n"
    assert post_csv(api, mixed).status_code == 403
    assert stored(api.url) == []


def test_a_revoked_token_is_refused_at_once(api):
    assert post_csv(api, csv_batch()).status_code == 200
    run(api.url, "token", "revoke", "box-1")
    assert post_csv(api, csv_batch(day="2021-08-02")).status_code == 401


def test_bad_bodies_get_clear_errors_and_write_nothing(api):
    bad = "camera,start,people\ngate-1,2021-08-01 00:00,3\ngate-1,not a time,4\n"
    refused = post_csv(api, bad)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "rejected" and error["problems"]
    assert "serve:box-1:3" in error["problems"][0]
    assert stored(api.url) == []
    skipped = post_csv(api, bad, on_error="skip")
    assert skipped.status_code == 200 and skipped.json()["rejected"] == 1
    assert skipped.json()["problems"] and not list(Path.cwd().glob("*.rejected.csv"))
    h = {"Content-Type": "application/json", **bearer(api.writer)}
    assert httpx.post(f"{api.base}/v1/counts", content=b"{not json", headers=h).status_code == 400
    assert httpx.post(f"{api.base}/v1/counts", content=b"[]", headers=h).status_code == 400
    assert httpx.post(f"{api.base}/v1/counts", json=[{"camera": "gate-1", "start": ["x"]}],
                      headers=bearer(api.writer)).status_code == 422
    wrong = httpx.post(f"{api.base}/v1/counts", content=b"x", headers={"Content-Type": "image/png",
                                                                          **bearer(api.writer)})
    assert wrong.status_code == 415
    assert post_csv(api, csv_batch(), on_error="maybe").status_code == 400
    assert httpx.get(f"{api.base}/v1/nothing").status_code == 404
    assert httpx.delete(f"{api.base}/v1/counts").json()["error"]["code"] == "method_not_allowed"


def _says_no_cli_flag(answer) -> dict:
    error = answer.json()["error"]
    for text in [error["message"], *error.get("problems", [])]:
        assert not re.search(r"(?<![\w-])--[a-z]", text), f"a CLI flag told to an HTTP client: {text}"
    return error


def test_refusals_name_the_query_parameter_that_fixes_them(api):
    bad = "camera,start,people\ngate-1,2021-08-01 00:00,3\ngate-1,not a time,4\n"
    assert "on_error=skip" in _says_no_cli_flag(post_csv(api, bad))["message"]
    korean = "camera,start,people,memo\ngate-1,2021-08-01 00:00,3,정문\n".encode("cp949")
    refused = httpx.post(f"{api.base}/v1/counts", content=korean, timeout=60,
                         headers={"Content-Type": "text/csv", **bearer(api.writer)})
    assert refused.status_code == 422 and "encoding=cp949" in _says_no_cli_flag(refused)["message"]
    dayfirst = "camera,start,people\n" + "".join(
        f"gate-1,{d:02d}/09/2021 00:00,{d}\n" for d in range(1, 6))
    error = _says_no_cli_flag(post_csv(api, dayfirst))
    assert "dayfirst=true" in error["message"] + " ".join(error.get("problems", []))
    assert stored(api.url) == []


def test_json_unix_seconds_are_refused_naming_time_format_and_read_with_it(api):
    """`{"start": 1627776000}` was refused as "out of range (1970–2099)"."""
    rows = [{"camera": "gate-4", "start": 1627776000 + 300 * i, "people": i} for i in range(3)]
    refused = httpx.post(f"{api.base}/v1/counts", json=rows, headers=bearer(api.writer), timeout=60)
    assert refused.status_code == 422
    error = _says_no_cli_flag(refused)
    assert error["problems"][0] == (
        "serve:box-1: row 1: timestamp '1627776000' is no date: it looks like Unix epoch seconds "
        "(2021-08-01 00:00:00 UTC); read the column with time_format=epoch")
    ok = httpx.post(f"{api.base}/v1/counts", json=rows, params={"time_format": "epoch"},
                    headers=bearer(api.writer), timeout=60)
    assert ok.status_code == 200, ok.text
    assert [r[1] for r in stored(api.url)] == [1627776000, 1627776300, 1627776600]


def test_the_import_layouts_are_query_parameters(api):
    korean = "camera,start,people,memo\ngate-1,2021-08-01 00:00,3,정문\n".encode("cp949")
    ok = httpx.post(f"{api.base}/v1/counts", content=korean, params={"encoding": "cp949"},
                    headers={"Content-Type": "text/csv", **bearer(api.writer)}, timeout=60)
    assert ok.status_code == 200, ok.text
    dayfirst = "camera,start,people\n" + "".join(
        f"gate-2,{d:02d}/09/2021 00:00,{d}\n" for d in range(1, 6))
    assert post_csv(api, dayfirst, dayfirst="true").status_code == 200
    headerless = "gate-3,2021-08-01 00:00,-1\ngate-3,2021-08-01 00:05,7\n"
    answer = post_csv(api, headerless, columns="camera,start,people", na=["-1"])
    assert answer.status_code == 200, answer.text
    assert post_csv(api, csv_batch(), max_count="lots").status_code == 400
    rows = stored(api.url)
    assert [r[3] for r in rows if r[0] == "gate-3"] == [7]  # -1 is "unknown": not stored
    assert answer.json()["unknown"] == 1
    assert [r[3] for r in rows if r[0] == "gate-2"] == [1, 2, 3, 4, 5]
    days = {time.strftime("%m-%d", time.gmtime(r[1] + 9 * 3600)) for r in rows if r[0] == "gate-2"}
    assert days == {f"09-{d:02d}" for d in range(1, 6)}  # 1 September, never 9 January
    scoped = post_csv(api, "2021-08-01 00:00,1\n", columns="start,people", camera="cam-9")
    assert scoped.status_code == 403  # a camera named by the query is inside the scope check too


def test_status_alerts_ack_and_json_rows_are_checked_and_scoped(api):
    """Adversarial review findings: status leaked other cameras' figures, a deep JSON body was a
    500, ack stored any key (and a bad one looked like a database outage), JSON rows were
    numbered as CSV lines, and JSON null could not say "unknown"."""
    lobby = "camera,start,people\nlobby,2021-08-01 00:00,5\nlobby,2021-08-01 00:05,6\n"
    everything = run(api.url, "token", "create", "--name", "all", "--camera", "*", "--read").stdout.strip()
    gates = run(api.url, "token", "create", "--name", "gr", "--camera", "gate-*", "--read").stdout.strip()
    assert post_csv(api, lobby, token=everything).status_code == 200
    assert post_csv(api, csv_batch(n=3)).status_code == 200
    mine = httpx.get(f"{api.base}/v1/status", headers=bearer(gates)).json()
    whole = httpx.get(f"{api.base}/v1/status", headers=bearer(everything)).json()
    assert (mine["cameras"], mine["rows"]) == (1, 3) and (whole["cameras"], whole["rows"]) == (2, 5)
    h = {"Content-Type": "application/json", **bearer(gates)}
    deep = b"[" * 100_000 + b"]" * 100_000
    assert httpx.post(f"{api.base}/v1/counts", content=deep, headers=h).status_code == 400
    assert httpx.post(f"{api.base}/v1/alerts/ack", content=deep, headers=h).status_code == 400
    for episode in ({"start_utc": 10 ** 30}, {"metric": "a" * 300}, {"camera": "gate-1\u0000"},
                    {"kind": "boom"}, {"start_utc": "1"}):
        body = {"consumer": "ops", "episodes": [{"camera": "gate-1", "metric": "all",
                                                  "kind": "dark", "start_utc": 1, **episode}]}
        answer = httpx.post(f"{api.base}/v1/alerts/ack", json=body, headers=bearer(gates))
        assert answer.status_code == 400, (episode, answer.text)
    rows = [{"camera": "gate-9", "start": "2021-08-02 00:00", "people": 1},
            {"camera": "gate-9", "start": "2021-08-02 00:05", "people": -4}]
    refused = httpx.post(f"{api.base}/v1/counts", json=rows, headers=bearer(api.writer)).json()
    assert refused["error"]["problems"][0].startswith("serve:box-1: row 2: ")
    rows[1]["people"] = None
    stored_ok = httpx.post(f"{api.base}/v1/counts", json=rows, headers=bearer(api.writer)).json()
    assert (stored_ok["inserted"], stored_ok["unknown"]) == (1, 1) and "rejected_file" not in stored_ok


def test_unknown_paths_are_logged_and_intervals_follow_the_cli_rule(api):
    assert httpx.get(f"{api.base}/v1/cctv_anything").status_code == 404
    assert httpx.delete(f"{api.base}/v1/counts", headers=bearer(api.writer)).status_code == 405
    for bad in ("0.01", "1e-300", "nan", "1441"):
        assert post_csv(api, csv_batch(), interval=bad).status_code == 400, bad
    assert stored(api.url) == []
    lines = [json.loads(line) for line in api.log.read_text().splitlines() if line.startswith("{")]
    assert {(x["path"], x["status"]) for x in lines} >= {("/v1/cctv_anything", 404), ("/v1/counts", 405)}


def test_the_ledger_short_cut_and_refused_rows_do_not_bypass_the_scope(api):
    """Adversarial review: the same bytes imported by another token answered "unchanged" to a
    token outside their cameras (an oracle on others' counts); a refused row was never checked."""
    lobby = "camera,start,people\nlobby,2021-08-01 09:00,5\n"
    everything = run(api.url, "token", "create", "--name", "all", "--camera", "*").stdout.strip()
    assert post_csv(api, lobby, token=everything).status_code == 200
    assert post_csv(api, lobby, token=everything).json()["status"] == "unchanged"
    assert post_csv(api, lobby).status_code == 403
    refused = "camera,start,people\ngate-1,2021-08-01 09:00,5\nlobby,2021-08-01 09:00,x\n"
    assert post_csv(api, refused).status_code == 403
    assert post_csv(api, refused, on_error="skip").status_code == 403
    assert [r[0] for r in stored(api.url)] == ["lobby"]


def test_a_batch_waits_briefly_for_another_import_then_gets_503(db_url, tmp_path):
    token = run(db_url, "token", "create", "--name", "b", "--camera", "*").stdout.strip()
    path = tmp_path / "cron.csv"
    path.write_text("camera,start,people\n" + "".join(
        f"cron-1,2021-08-{d:02d} {m // 60:02d}:{m % 60:02d},1\n" for d in range(1, 8) for m in range(0, 1440, 5)))
    err = tmp_path / "cron.err"
    cron = subprocess.Popen([_cctvctl(), "--db", db_url, "import", str(path), "--no-detect"],
                            stderr=open(err, "w"), env={**os.environ, "CCTV_TZ": TZ, "CCTV_TEST_IMPORT_PAUSE": "1"})
    try:
        deadline = time.monotonic() + 120
        while "paused mid-import" not in err.read_text():
            assert time.monotonic() < deadline and cron.poll() is None, err.read_text()
            time.sleep(0.05)
        with serving(db_url, tmp_path, "--lock-wait", "1") as server:
            busy = post_csv(server, csv_batch(), token=token)
            assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy", busy.text
            assert busy.json()["error"]["message"] == "another import is running; retry later"
            assert int(busy.headers["Retry-After"]) >= 1
            assert httpx.get(f"{server.base}/healthz").status_code == 200
    finally:
        cron.kill()
        cron.wait()


def test_every_skipped_row_is_listed_and_the_zone_follows_set_zone(api):
    bad = "camera,start,people\n" + "".join(f"gate-1,2021-08-01 {h:02d}:00,x\n" for h in range(24)) \
        + "".join(f"gate-1,2021-08-02 {h:02d}:00,x\n" for h in range(12)) + "gate-1,2021-08-03 00:00,4\n"
    answer = post_csv(api, bad, on_error="skip").json()
    assert answer["rejected"] == 36 and len(answer["problems"]) == 36
    run(api.url, "db", "set-zone", "Europe/Berlin", "--force")
    later = post_csv(api, csv_batch(camera="gate-2", day="2021-08-05"))
    assert later.status_code == 200, later.text
    report = httpx.get(f"{api.base}/v1/report", params={"day": "2021-08-05"}, headers=bearer(api.reader))
    assert report.status_code == 200 and report.json()["period"]["tz"] == "Europe/Berlin", report.text[:300]


def test_serve_refuses_bad_tls_files_and_a_database_that_is_not_there(tmp_path):
    url = f"sqlite:///{tmp_path / 'real.db'}"
    run(url, "db", "init")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for files in (["--certfile", "/nonexistent.pem", "--keyfile", "/nonexistent.pem"],
                  ["--certfile", str(junk), "--keyfile", str(junk)]):
        refused = run(url, "serve", "--port", "0", *files, check=False)
        assert refused.returncode == 2 and "listening" not in refused.stderr, refused.stderr
        assert "--certfile" in refused.stderr and "unexpected" not in refused.stderr
    typo = tmp_path / "typo" / "cctv.db"
    missing = run(f"sqlite:///{typo}", "serve", "--port", "0", check=False)
    assert missing.returncode != 0 and "listening" not in missing.stderr and not typo.exists()


def test_a_huge_body_gets_413(db_url, tmp_path):
    token = run(db_url, "token", "create", "--name", "b", "--camera", "*").stdout.strip()
    with serving(db_url, tmp_path, "--max-body", "2048") as server:
        big = csv_batch(n=200)
        assert len(big) > 2048
        answer = post_csv(server, big, token=token)
        assert answer.status_code == 413 and "split the batch" in answer.json()["error"]["message"]

        def chunks():  # no Content-Length: the limit holds on the streamed body too
            yield big.encode()

        streamed = httpx.post(f"{server.base}/v1/counts", content=chunks(),
                              headers={"Content-Type": "text/csv", **bearer(token)})
        assert streamed.status_code == 413
    assert stored(db_url) == []


def test_a_slow_client_gets_408(sqlite_url, tmp_path):
    token = run(sqlite_url, "token", "create", "--name", "b", "--camera", "*").stdout.strip()
    with serving(sqlite_url, tmp_path, "--body-timeout", "1") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(f"POST /v1/counts HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                      f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\ncamera".encode())
            s.settimeout(20)
            reply = s.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 408"), reply


def test_rate_limit_answers_429_with_retry_after(sqlite_url, tmp_path):
    token = run(sqlite_url, "token", "create", "--name", "b", "--camera", "*", "--read").stdout.strip()
    with serving(sqlite_url, tmp_path, "--rate", "0.5") as server:
        codes = [httpx.get(f"{server.base}/v1/status", headers=bearer(token)) for _ in range(3)]
    assert [c.status_code for c in codes[:1]] == [200]
    limited = [c for c in codes if c.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1


def test_tokens_are_shown_once_stored_hashed_and_never_logged(api):
    assert post_csv(api, csv_batch()).status_code == 200
    httpx.get(f"{api.base}/v1/status", headers=bearer(api.reader), params={"x": api.reader})
    listed = run(api.url, "token", "list", "--format", "json").stdout
    table = run(api.url, "token", "list").stdout
    log = api.log.read_text()
    from cctvctl.db import connect

    with connect(api.url) as db:
        dumped = repr(db.query("SELECT * FROM api_tokens"))
    for secret in (api.writer, api.reader):
        for text in (listed, table, log, dumped):
            assert secret not in text and secret[5:] not in text
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {"box-1", "dash"} <= {line["token"] for line in lines}
    assert {line["name"] for line in json.loads(listed)} == {"box-1", "dash"}


def test_token_list_shows_patterns_literally(sqlite_url):
    run(sqlite_url, "token", "create", "--name", "m", "--camera", "gate-[ab]*", "--camera", "[/]x")
    table = run(sqlite_url, "token", "list").stdout
    assert "gate-[ab]* [/]x" in table


def test_token_create_json_and_refusals(sqlite_url):
    made = json.loads(run(sqlite_url, "token", "create", "--name", "j", "--camera", "a*",
                          "--format", "json").stdout)
    assert made["name"] == "j" and made["token"].startswith("cctv_") and made["cameras"] == ["a*"]
    again = run(sqlite_url, "token", "create", "--name", "j", "--camera", "a*", check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    run(sqlite_url, "token", "revoke", "j")
    reused = run(sqlite_url, "token", "create", "--name", "j", "--camera", "a*", check=False)
    assert reused.returncode == 2 and "revoked" in reused.stderr and "revoke it" not in reused.stderr
    bad = run(sqlite_url, "token", "create", "--name", "x y", "--camera", "a", check=False)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    gone = run(sqlite_url, "token", "revoke", "nobody", check=False)
    assert gone.returncode == 2 and "no token named 'nobody'" in gone.stderr


def test_outliers_alerts_and_ack_follow_the_token_scope(api):
    from cctvctl.db import connect

    for camera in ("gate-1", "lobby"):
        with connect(api.url) as db:
            db.execute("INSERT INTO counts (camera, start_utc, end_utc, people, import_id) "
                       "VALUES (?, 1627743600, 1627743900, 5, 0)", (camera,))
            db.execute("INSERT INTO outliers (camera, start_utc, metric, method, direction, observed, "
                       "expected, band_low, band_high, score, params, detected_at) VALUES "
                       "(?, 1627743600, 'people', 'seasonal', 'high', 90, 10, 0, 30, 8, '{}', 0)", (camera,))
    scoped = run(api.url, "token", "create", "--name", "gates", "--camera", "gate-*", "--read",
                 "--no-write").stdout.strip()
    got = httpx.get(f"{api.base}/v1/outliers", params={"since": "2021-08-01"}, headers=bearer(scoped)).json()
    assert [f["camera"] for f in got] == ["gate-1"]
    assert httpx.get(f"{api.base}/v1/outliers", params={"since": "2021-08-01", "camera": "lobby"},
                     headers=bearer(scoped)).status_code == 403
    everything = httpx.get(f"{api.base}/v1/outliers", params={"since": "2021-08-01", "episodes": "1"},
                           headers=bearer(api.reader)).json()
    assert sorted(e["camera"] for e in everything) == ["gate-1", "lobby"]
    feed = f"{api.base}/v1/alerts"
    params = {"consumer": "wall", "since": "2021-07-31", "dark_after": "0"}
    pending = httpx.get(feed, params=params, headers=bearer(api.reader)).json()
    assert sorted(e["camera"] for e in pending) == ["gate-1", "lobby"]
    ack = httpx.post(f"{feed}/ack", headers=bearer(api.reader),
                     json={"consumer": "wall", "episodes": pending[:1]})
    assert ack.json()["marked"] == 1
    left = httpx.get(feed, params=params, headers=bearer(api.reader)).json()
    assert [e["camera"] for e in left] == [pending[1]["camera"]]


def test_sigterm_stops_cleanly_with_exit_0(sqlite_url, tmp_path):
    run(sqlite_url, "db", "init")
    with serving(sqlite_url, tmp_path) as server:
        assert httpx.get(f"{server.base}/healthz").status_code == 200
        assert server.stop(signal.SIGTERM) == 0


def test_sigkill_mid_batch_leaves_nothing_and_the_retry_completes(db_url, tmp_path):
    token = run(db_url, "token", "create", "--name", "b", "--camera", "*").stdout.strip()
    lines = ["camera,start,people"] + [f"cam-{c},2021-08-{d:02d} {m // 60:02d}:{m % 60:02d},{(c + m) % 50}"
                                       for c in range(20) for d in range(1, 15) for m in range(0, 1440, 5)]
    text = "\n".join(lines) + "\n"
    with serving(db_url, tmp_path, "--max-body", str(1 << 26), env={"CCTV_TEST_IMPORT_PAUSE": "1"}) as server:
        result: dict = {}

        def send():
            try:
                result["r"] = post_csv(server, text, token=token)
            except httpx.HTTPError as exc:
                result["e"] = exc

        t = threading.Thread(target=send)
        t.start()
        server.wait_for("paused mid-import")  # rows written, not committed
        server.stop(signal.SIGKILL)
        t.join(60)
    assert "r" not in result, "the batch finished before the kill: make it bigger"
    assert len(stored(db_url)) in (0, len(lines) - 1)
    with serving(db_url, tmp_path, "--max-body", str(1 << 26)) as server:
        retry = post_csv(server, text, token=token)
        assert retry.status_code == 200, retry.text
    assert len(stored(db_url)) == len(lines) - 1


def test_tls_with_a_certificate(sqlite_url, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                           "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                           "-keyout", str(key), "-out", str(cert)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("openssl could not make a test certificate")
    token = run(sqlite_url, "token", "create", "--name", "b", "--camera", "*").stdout.strip()
    with serving(sqlite_url, tmp_path, "--certfile", str(cert), "--keyfile", str(key)) as server:
        assert server.base.startswith("https://")
        import ssl

        trust = ssl.create_default_context(cafile=str(cert))
        answer = httpx.post(f"{server.base}/v1/counts", content=csv_batch().encode(), verify=trust,
                            headers={"Content-Type": "text/csv", **bearer(token)})
        assert answer.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
