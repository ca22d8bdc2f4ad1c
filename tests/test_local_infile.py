"""LOAD DATA LOCAL can only send the file cctvctl wrote: any other request is refused."""

from __future__ import annotations

import pytest

from cctvctl.db import connect
from cctvctl.db import local_infile
from cctvctl.errors import DatabaseError

CREATE = "CREATE TABLE probe (line VARCHAR(255))"


def _load(db, path):
    db.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE probe (line)")


def test_server_request_for_another_file_is_refused(mysql_url, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret\n")
    ours = tmp_path / "ours.tsv"
    ours.write_text("fine\n")
    with connect(mysql_url) as db:
        db.execute(CREATE)
        # no file offered at all: a request (here for the secret) is refused
        with pytest.raises(DatabaseError, match="refused the server's request"):
            _load(db, secret)
        # our file offered, but the server asks for another one: refused
        with local_infile.allow(db.conn, str(ours)), \
                pytest.raises(DatabaseError, match="refused the server's request"):
            _load(db, secret)
        assert db.scalar("SELECT COUNT(*) FROM probe") == 0
        # the connection is still usable, and the offered file itself is sent
        with local_infile.allow(db.conn, str(ours)):
            _load(db, ours)
        assert db.query("SELECT line FROM probe") == [("fine",)]
        # the permission ends with the block
        with pytest.raises(DatabaseError, match="refused"):
            _load(db, ours)
