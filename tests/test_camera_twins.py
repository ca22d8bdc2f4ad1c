"""A new camera named like a stored one but for case, spaces or Unicode form gets a warning
(one line on stderr, in the JSON object too), never a refusal: both cameras are stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cctvctl.ingest.twins import lookalike_warnings, look

EXE = str(Path(sys.executable).with_name("cctvctl"))


def _file(tmp_path: Path, name: str, cameras: list[str], day: int = 1) -> Path:
    path = tmp_path / name
    lines = ["camera,start,end,people,vehicle"]
    for i, camera in enumerate(cameras):
        lines.append(f'"{camera}",2021-08-0{day} 0{i}:00,2021-08-0{day} 0{i}:05,{i + 1},0')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(db_url: str, path: Path, *more: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTV_")}
    return subprocess.run([EXE, "--db", db_url, "--tz", "Asia/Seoul", "import", str(path),
                           "--no-detect", *more], env=env, capture_output=True, text=True,
                          timeout=120)


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("new,stored", [
    ("Gate-North", "gate-north"),              # case
    ("Gate  North", "gate north"),             # inner spaces
    ("ｇａｔｅ－ｎｏｒｔｈ", "gate-north"),        # full-width forms (NFKC)
    ("Cafe\u0301 Door", "café door"),          # a combining accent against a composed one
])
def test_a_new_look_alike_camera_is_stored_with_one_warning(db_url, tmp_path, new, stored):
    first = _import(db_url, _file(tmp_path, "a.csv", [stored]))
    assert first.returncode == 0 and not _warnings(first.stderr), first.stderr
    second = _import(db_url, _file(tmp_path, "b.csv", [new, "gate-south"], day=2))
    assert second.returncode == 0, second.stderr
    assert _warnings(second.stderr) == [
        f"warning: {tmp_path / 'b.csv'}: new camera {new!r} differs from the stored {stored!r} "
        "only by case, spaces or Unicode form: kept as separate cameras (rename one if they are "
        "the same)"]
    from cctvctl.db import connect

    with connect(db_url) as db:
        names = sorted(c for (c,) in db.query("SELECT DISTINCT camera FROM counts"))
    assert names == sorted([stored, new, "gate-south"])
    # the same camera again, or an unrelated one: nothing to say
    third = _import(db_url, _file(tmp_path, "c.csv", [new, stored, "gate-west"], day=3))
    assert third.returncode == 0 and not _warnings(third.stderr), third.stderr


def test_look_alikes_within_one_file_and_in_json(db_url, tmp_path):
    done = _import(db_url, _file(tmp_path, "a.csv", ["Cam-A", "cam-a", "cam-b"]), "--format", "json")
    assert done.returncode == 0, done.stderr
    line = (f"{tmp_path / 'a.csv'}: new cameras 'Cam-A', 'cam-a' look alike only by case, spaces "
            "or Unicode form: kept as separate cameras (rename one if they are the same)")
    assert _warnings(done.stderr) == [f"warning: {line}"]
    assert json.loads(done.stdout)["warnings"] == [line]
    again = _import(db_url, _file(tmp_path, "a.csv", ["Cam-A", "cam-a", "cam-b"]), "--format", "json")
    assert json.loads(again.stdout)["status"] == "unchanged" and not _warnings(again.stderr)


def test_look_is_case_space_and_unicode_blind_only():
    assert look("Gate-North") == look(" gate-north ") == look("ＧＡＴＥ－ＮＯＲＴＨ") == "gate-north"
    assert look("Straße") == look("STRASSE")
    assert look("gate-north") != look("gate_north") != look("gate-north-2")
    assert lookalike_warnings("f", ["gate-2"], ["gate-1", "Gate-1"]) == []  # old twins: not news
