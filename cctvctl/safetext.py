"""Hostile text made harmless where it is shown: terminals, spreadsheets and JSON.

Camera names and file names come from files and users. Three places would obey what such a
name contains, so every writer passes names through one of these functions:

- :func:`shown` for a terminal (tables, ``db status``, error lines, markdown): control
  characters (C0, DEL, C1 such as U+009B, the one-byte CSI), bidi overrides and isolates
  (U+202A–U+202E, U+2066–U+2069), other invisible format characters, line/paragraph separators
  and lone surrogates are written as Python-style escapes (``\\x1b``, ``\\u202e``). Everything
  printable, Korean included, is left as it is; a backslash is left alone.
- :func:`csv_cell` for a CSV cell (OWASP CSV-injection guidance): a text that a spreadsheet
  would run as a formula (it begins with ``= + - @``, their full-width forms, tab, CR or LF)
  or that holds an unsafe character gets a leading ``'``; in such a cell backslashes are doubled
  and unsafe characters escaped. :func:`csv_value` is the exact inverse: a cell that begins with
  ``'`` is the original minus that quote, with ``\\\\ \\xHH \\uHHHH \\UHHHHHHHH \\t \\n \\r``
  read back. Any other cell is the original, byte for byte.
- :func:`json_text` for JSON: ``json.dumps`` with the unsafe characters written as ``\\uXXXX``
  escapes. The decoded value is exact; printable non-ASCII text stays readable.
"""

from __future__ import annotations

import json
import re
import unicodedata

#: categories never written raw: controls, format (bidi, zero-width), separators, surrogates
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
#: format characters some scripts need (Persian, Indic, emoji sequences): harmless, kept
KEPT_FORMAT = frozenset({"\u200c", "\u200d"})
#: first characters a spreadsheet reads as a formula (OWASP) or that mark an escaped cell
FORMULA_START = frozenset("=+-@\t\r\n'\uff1d\uff0b\uff0d\uff20")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_ESCAPE = re.compile(r"\\(\\|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[tnr])")
_CACHE: dict[str, bool] = {}


def unsafe(char: str) -> bool:
    """Whether ``char`` must not reach a terminal raw."""
    known = _CACHE.get(char)
    if known is None:
        known = (char not in KEPT_FORMAT and char != " "
                 and unicodedata.category(char) in UNSAFE_CATEGORIES)
        if len(_CACHE) < 4096:
            _CACHE[char] = known
    return known


def hidden_char(text: str) -> str | None:
    """The first control or invisible character of ``text`` (C0, DEL, C1, bidi overrides and
    isolates, zero-width characters, BOM, word joiner, line/paragraph separators, lone
    surrogates), or None. A name must look like what it is: where :func:`shown` escapes these
    for display, a camera name or a token's camera pattern holding one is refused (the
    zero-width joiners :func:`shown` keeps would make ``gate-1`` and a visual twin)."""
    if text.isprintable():
        return None
    return next((c for c in text if unicodedata.category(c) in UNSAFE_CATEGORIES), None)


def escape_char(char: str) -> str:
    """``\\t``, ``\\x1b``, ``\\u202e``, ``\\U000e0001``: the Python spelling of one character."""
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _needs(text: str) -> bool:
    return not text.isprintable() and any(unsafe(c) for c in text)


def shown(value) -> str:
    """``value`` as text that is safe to print on a terminal (see the module docstring)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() or not _needs(text):
        return text
    return "".join(escape_char(c) if unsafe(c) else c for c in text)


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text and a terminal shows harmlessly.

    Numbers and ``None`` pass through (a negative number stays a number); see :func:`csv_value`.
    """
    if not isinstance(value, str) or not value:
        return value
    if value[0] not in FORMULA_START and not _needs(value):
        return value
    body = value.replace("\\", "\\\\")
    return "'" + "".join(escape_char(c) if unsafe(c) else c for c in body)


def _unescape(match: re.Match) -> str:
    token = match.group(1)
    if token == "\\":
        return "\\"
    if token in ("t", "n", "r"):
        return {"t": "\t", "n": "\n", "r": "\r"}[token]
    return chr(int(token[1:], 16))


def csv_value(cell: str) -> str:
    """The original text of a cell written by :func:`csv_cell` (for scripts reading our CSV)."""
    if not cell.startswith("'"):
        return cell
    return _ESCAPE.sub(_unescape, cell[1:])


def json_text(obj, **kwargs) -> str:
    """``json.dumps(obj, ensure_ascii=False, **kwargs)`` with unsafe characters as ``\\uXXXX``.

    Unsafe characters can only occur inside JSON strings, where the escape means the same
    character: the decoded value is exact.
    """
    return escape_json(json.dumps(obj, ensure_ascii=False, **kwargs))


def escape_json(text: str) -> str:
    """Unsafe characters of JSON text as ``\\uXXXX`` (newlines kept). Works on any piece of a
    document too (each character is escaped on its own), so an encoder's chunks can be written
    as they come."""
    if text.isprintable() or not _needs(text.replace("\n", "")):
        return text
    return "".join(_json_escape(c) if c != "\n" and unsafe(c) else c for c in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # astral format characters (tags): a UTF-16 surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


__all__ = ["csv_cell", "csv_value", "escape_char", "escape_json", "hidden_char", "json_text", "shown",
           "unsafe"]
