"""Where a file stops decoding, and which ``--encoding`` would read it: one clear line instead
of a codec traceback.

The text layer decodes ahead in blocks, so the line being parsed when decoding failed is not
the bad one; the binary file is scanned again to find it. Bytes that read as Korean in cp949
(the usual spreadsheet export) get that suggestion by name.
"""

from __future__ import annotations

import codecs
import re
from typing import IO


def undecodable(stream: IO[str], exc: UnicodeError) -> tuple[int, str]:
    """(line, reason) for ``exc`` met while reading ``stream`` (a text layer over the file)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    if not isinstance(exc, UnicodeDecodeError):  # e.g. "UTF-16 stream does not start with BOM"
        return 1, (f"not valid {encoding}: {exc}; use --encoding (utf-16-le or "
                   "utf-16-be for UTF-16 without a byte-order mark)")
    line, byte, text = _find_undecodable(getattr(stream, "buffer", None), encoding)
    if byte is None:
        line, byte, text = 1, exc.object[exc.start], bytes(exc.object)
    shown = "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig", "utf8") else encoding
    codec = codecs.lookup(encoding).name
    if codec not in ("utf-8", "utf-8-sig") and _reads_as_utf8(text):  # never tell them to pass what they passed
        return line, (f"not valid {shown} (byte 0x{byte:02x}); the bytes read as UTF-8: drop "
                      "--encoding (UTF-8 is the default)")
    korean = _reads_as_korean(text)
    if korean and codec != "cp949":
        return line, (f"not valid {shown} (byte 0x{byte:02x}); the bytes read as "
                      f"Korean in cp949 ({korean!r}): use --encoding cp949")
    if codec == "cp949":
        return line, (f"not valid {shown} (byte 0x{byte:02x}); use --encoding with the "
                      "file's encoding (e.g. utf-16, latin-1)")
    return line, (f"not valid {shown} (byte 0x{byte:02x}); use --encoding, "
                  "e.g. --encoding cp949 for Korean spreadsheet exports")


def _find_undecodable(raw, encoding: str) -> tuple[int, int | None, bytes]:
    """(line, byte, the line's bytes) of the first byte ``encoding`` cannot decode, reading
    ``raw`` from the start."""
    if raw is None or not raw.seekable():
        return 1, None, b""
    raw.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    for number, data in enumerate(raw, start=1):
        try:
            decoder.decode(data)
        except UnicodeDecodeError as exc:
            return number, exc.object[exc.start], bytes(data)
        except UnicodeError:  # not about one byte (UTF-16 without a byte-order mark)
            return number, None, b""
    return 1, None, b""


def _reads_as_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _reads_as_korean(data: bytes) -> str:
    """The Hangul text ``data`` holds when read as cp949 (a superset of EUC-KR), else ''."""
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        return ""
    hangul = re.findall(r"[\uac00-\ud7a3]+", text)
    return " ".join(hangul)[:40]
