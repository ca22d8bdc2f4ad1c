"""MySQL option files (``~/.my.cnf``) read the way the MySQL client reads them.

PyMySQL parses them with a strict ``configparser``: a repeated ``[client]`` group (legal for
MySQL: groups merge, a later value wins) was a ``DuplicateSectionError``, and a file without a
group header raised an error whose text quoted the first line, the password included. Here a
repeated group merges, and an unreadable line is reported by file and line number only: the
text of an option file is never shown, because it may hold the password.
"""

from __future__ import annotations

from pathlib import Path

from cctvctl.errors import UsageError

#: option file keys → PyMySQL ``connect()`` keywords (what PyMySQL itself takes from the file)
KEYS = {"user": "user", "password": "password", "database": "database", "socket": "unix_socket",
        "bind-address": "bind_address"}
SSL_KEYS = ("ca", "capath", "cert", "key", "password", "cipher")


def read_group(path: str | Path, group: str = "client") -> dict[str, str | None]:
    """Options of ``group`` in the option file at ``path`` (names lower-case, ``_`` → ``-``).

    A missing or unreadable file is a UsageError naming the file, never quoting it.
    """
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read the MySQL option file {shown}: {exc.strerror or exc}") from None
    found: dict[str, str | None] = {}
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;" or line.startswith("!include"):
            continue  # comments; includes are not followed (PyMySQL never did)
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise _bad(shown, number, "a group header must look like [client]")
            current = line[1:-1].strip().lower()
            continue
        if current is None:
            raise _bad(shown, number, "an option before any [group] header (put it under [client])")
        if current != group:
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower().replace("_", "-")
        if not key:
            raise _bad(shown, number, "an option without a name")
        found[key] = _value(value) if sep else None
    return found


def connect_options(path: str | Path, group: str, given: dict) -> dict:
    """PyMySQL keywords the option file supplies where ``given`` has no value (as PyMySQL did)."""
    options = read_group(path, group)
    out = {}
    for key, kwarg in KEYS.items():
        if not given.get(kwarg) and options.get(key) is not None:
            out[kwarg] = options[key]
    if not given.get("ssl"):
        ssl = {k: options[f"ssl-{k}"] for k in SSL_KEYS if options.get(f"ssl-{k}")}
        if ssl:
            out["ssl"] = ssl
    return out


def _value(text: str) -> str:
    """A value: trimmed, one pair of surrounding quotes removed (as PyMySQL read it, so a
    password that worked before still does)."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def _bad(path: str, number: int, why: str) -> UsageError:
    return UsageError(f"{path}:{number}: not a valid MySQL option file line: {why} "
                      "(the line is not shown: it may hold a password)")
