"""Every file cctvctl writes goes through here, so none can be turned against its user.

A side file's name is predictable (``x.csv.rejected.csv``, ``cctv-demo/sample_counts.csv``): a
planted symbolic link there must not make cctvctl write through it into another file, and a
file cctvctl did not write must not be lost under that name. So a file is written to a fresh
temporary file beside its target (``O_CREAT|O_EXCL|O_NOFOLLOW``: never an existing file, never
through a link), then renamed over the target in one step, which replaces the name and never
follows a link. Nothing is written where the target is not a regular file (``/dev/full``, a
FIFO, a folder). A name cctvctl chose itself (``ours``) is refused where it is a link or a file
cctvctl did not write; a name the user gave replaces the file or link there. On failure only
the temporary file is removed — never the target.

Temporary files of cctvctl's own (``cctvctl-*-PID-*``) whose process is gone (SIGKILL skips
every cleanup) are swept by :func:`sweep_dead`.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import stat
import tempfile
from contextlib import contextmanager
from typing import Callable, Iterator

from cctvctl.errors import OutputError, UsageError

TMP_MARK = ".cctvctl-tmp-"


def refusal(path: str, *, links: bool = False) -> str | None:
    """Why ``path`` may not be written (a link unless ``links``, not a regular file), or None."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISLNK(st.st_mode):
        return None if links else "it is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "it exists and is not a regular file"
    return None


def check_target(path: str, *, what: str, fix: str, ours: Callable[[str], bool] | None = None) -> None:
    """Refuse (exit 2) a target that may not be written.

    A name the user gave (``ours`` None) may be a regular file, which is replaced, or a link,
    which is replaced by the new file (never written through). A name cctvctl chose (``ours``
    tells whether an existing regular file there is one cctvctl wrote) may be neither a link
    nor a file of anyone else: a planted link or a stranger's file there is refused.
    """
    why = refusal(path, links=ours is None)
    if why is None and ours is not None and os.path.exists(path) and not ours(path):
        why = "a file cctvctl did not write is there"
    if why:
        raise UsageError(f"{path}: refusing to write {what} there: {why} ({fix})")


class PendingFile:
    """A new temporary file beside ``path`` (open as ``handle``) that :meth:`commit` renames
    over ``path``; :meth:`discard` removes only the temporary file, and :meth:`undo` removes
    ``path`` only while it is still the very file this committed (same inode).

    ``what`` names the file in messages ("the rejected rows"), ``fix`` the option that moves it.
    """

    def __init__(self, path: str, mode: str = "w", *, what: str, fix: str,
                 ours: Callable[[str], bool] | None = None, encoding: str | None = "utf-8",
                 newline: str | None = "", on_failure: str = "nothing was changed there"):
        check_target(path, what=what, fix=fix, ours=ours)
        self.path, self.what, self.fix, self.ours = path, what, fix, ours
        self.on_failure = on_failure
        folder = os.path.dirname(os.path.abspath(path))
        base = os.path.basename(path)
        sweep_dead(os.path.join(glob.escape(folder), f".{glob.escape(base)}{TMP_MARK}*"),
                   pid_at=lambda name: name.rsplit("-", 2)[-2])
        self.temp = os.path.join(folder, f".{base}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
        flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0))
        try:
            fd = os.open(self.temp, flags, 0o666)  # the umask applies, as for any new file
        except OSError as exc:
            raise UsageError(f"cannot write {what} to {path}: {exc.strerror or exc} ({fix})") from None
        binary = "b" in mode
        self.handle = os.fdopen(fd, "wb" if binary else "w",
                                **({} if binary else {"encoding": encoding, "newline": newline}))
        self._identity: tuple[int, int] | None = None

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Work on the temporary file: an OSError (a full disk) becomes the one-line error,
        anything else discards the temporary file and goes on."""
        try:
            yield
        except OSError as exc:
            raise self.failed(exc) from None
        except BaseException:
            self.discard()
            raise

    def ready(self) -> None:
        """Everything but the rename (written to disk, the target still fit): what can fail
        for lack of space fails here, before a caller's transaction commits."""
        if self.handle.closed:
            return
        with self.writing():
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    def commit(self) -> str:
        self.ready()
        with self.writing():
            check_target(self.path, what=self.what, fix=self.fix, ours=self.ours)  # still so
            os.replace(self.temp, self.path)  # replaces the name; never follows a link there
        st = os.lstat(self.path)
        self._identity = (st.st_dev, st.st_ino)
        return self.path

    def failed(self, exc: OSError) -> OutputError:
        """Discard the temporary file; the one-line error to raise (a full disk: exit 1)."""
        self.discard()
        return OutputError(f"cannot write {self.what} to {self.path}: {exc.strerror or exc}; "
                           f"{self.on_failure} (free space, or {self.fix})")

    def discard(self) -> None:
        try:
            self.handle.close()  # may fail again flushing what a full disk refused
        except OSError:
            pass
        if self._identity is None:
            _unlink(self.temp)

    def undo(self) -> None:
        """Take back a committed file (its import was rolled back after all)."""
        self.discard()
        if self._identity is None:
            return
        try:
            st = os.lstat(self.path)
        except OSError:
            return
        if (st.st_dev, st.st_ino) == self._identity:
            _unlink(self.path)


@contextmanager
def replace_file(path: str, mode: str = "w", **kwargs) -> Iterator:
    """``with replace_file(path, what=…, fix=…) as fh``: ``path`` appears, whole, only when
    the block succeeds."""
    pending = PendingFile(path, mode, **kwargs)
    try:
        yield pending.handle
    except BaseException:
        pending.discard()
        raise
    pending.commit()


def same_file(a: str, b: str) -> bool:
    """Whether two names are one file (any spelling, a hard link, a symbolic link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def starts_with(prefix: bytes) -> Callable[[str], bool]:
    """An ``ours`` test: the file begins with ``prefix`` (a header only cctvctl writes)."""
    def test(path: str) -> bool:
        try:
            with open(path, "rb") as fh:
                return fh.read(len(prefix)) == prefix
        except OSError:
            return False
    return test


#: what cctvctl writes into every PNG chart (a tEXt chunk near the start), to know it again
PNG_MARK = b"Software\x00cctvctl"


def png_ours(path: str) -> bool:
    """An ``ours`` test for charts: a PNG whose first kilobytes carry :data:`PNG_MARK`."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.startswith(b"\x89PNG") and PNG_MARK in head


# -- temporary files of killed processes ------------------------------------------------------------
def pid_named(prefix: str) -> str:
    """A prefix for ``tempfile.mkstemp``/``mkdtemp`` that names this process: ``cctvctl-X-PID-``."""
    return f"{prefix}{os.getpid()}-"


def sweep_dead(pattern: str, *, pid_at: Callable[[str], str] | None = None) -> int:
    """Remove files and folders matching ``pattern`` whose owning process (the PID in the name,
    after the pattern's fixed prefix unless ``pid_at`` finds it) is no longer running."""
    removed = 0
    fixed = os.path.basename(pattern.split("*", 1)[0])
    for name in glob.glob(pattern):
        base = os.path.basename(name)
        try:
            pid = pid_at(base) if pid_at else base[len(fixed):].split("-", 1)[0]
        except IndexError:
            continue
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        if os.path.isdir(name) and not os.path.islink(name):
            shutil.rmtree(name, ignore_errors=True)
        else:
            _unlink(name)
        removed += 1
    return removed


def sweep_temp(prefix: str) -> int:
    """Sweep ``TMPDIR/{prefix}PID-*`` of processes that are gone."""
    return sweep_dead(os.path.join(tempfile.gettempdir(), f"{prefix}*"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    except OverflowError:
        return False
    return True


def _unlink(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass
