"""Refusals worded for an HTTP client: the query parameter that fixes it, not the CLI flag.

The library words its refusals for the command line (``use --encoding cp949``). A detector box
posting to ``cctvctl serve`` cannot pass a flag; most of them exist as query parameters of the
same name (``encoding=cp949``). Flags with no HTTP equivalent are named as what they are, a
``cctvctl`` command-line option, so the device's owner knows the fix is on the operator's side.
"""

from __future__ import annotations

import re

#: query parameters of ``POST /v1/counts`` that carry an ``ImportOptions`` field, by CLI flag
LAYOUT_PARAMS = ("camera", "interval", "map", "encoding", "delimiter", "nonexistent", "ambiguous",
                 "dayfirst", "monthfirst", "time-format", "max-count", "columns", "na", "wide",
                 "wide-metric", "on-error", "replace")
#: flags of the read endpoints that are query parameters too
READ_PARAMS = ("consumer", "dark-after", "since", "until", "camera", "episodes", "compare", "day",
               "week", "month", "year")
SWITCHES = frozenset({"replace", "dayfirst", "monthfirst", "episodes"})
_PARAMS = frozenset(LAYOUT_PARAMS + READ_PARAMS)

_FLAG = re.compile(r"--([a-z][a-z-]*)(?: ('[^']*'|\"[^\"]*\"|[^\s`,;:)]+))?")
_ANY = re.compile(r"`(--[^`]*)`|" + _FLAG.pattern)


def _looks_like_value(token: str) -> bool:
    """A value after a flag (``skip``, ``cp949``, ``start=Date``, ``-1``) rather than prose."""
    if token[0] in "'\"":
        return True
    return (any(c.isdigit() or c in "=,.-_*" for c in token) or token.isupper()
            or token in ("skip", "reject", "epoch", "people", "vehicle", "infer", "earlier",
                         "later", "shift", "previous", "none"))


def for_http(message: str) -> str:
    """``message`` with each ``--flag [value]`` it names rewritten as ``flag=value``."""
    def swap(m: re.Match) -> str:
        flag, value = m.group(1), m.group(2)
        if flag not in _PARAMS:
            return f"the cctvctl command-line option --{flag}" + (f" {value}" if value else "")
        name = flag.replace("-", "_")
        if flag in SWITCHES:
            return f"{name}=true" + (f" {value}" if value else "")
        if value and _looks_like_value(value):
            return f"{name}={value}"
        return f"{name}=…" + (f" {value}" if value else "")
    def quoted_or_bare(m: re.Match) -> str:
        if m.group(1) is not None:
            return "`" + _FLAG.sub(swap, m.group(1)) + "`"
        return swap(_FLAG.fullmatch(m.group(0)))
    return _ANY.sub(quoted_or_bare, message)
