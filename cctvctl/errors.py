"""Typed errors of the library; the CLI maps each to one line on stderr and an exit code.

Exit codes are a contract (DESIGN §9): 1 for runtime failures (database unreachable, lock
timeout), 2 for bad usage or rejected input.
"""


class CctvError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1


class UsageError(CctvError):
    """Options or arguments that cannot work together, or a malformed value."""

    exit_code = 2


class InputRejected(CctvError):
    """Input data was refused; nothing was written."""

    exit_code = 2


class CountFileError(InputRejected):
    """A count file could not be read or had invalid rows (carries the problems)."""

    def __init__(self, message: str, problems=None, total_problems: int = 0):
        super().__init__(message)
        self.problems = list(problems or [])
        self.total_problems = total_problems or len(self.problems)


class DatabaseError(CctvError):
    """The database is unreachable, refused a statement, or is in an unexpected state."""

    exit_code = 1


class LockTimeout(DatabaseError):
    """Another run holds the lock for longer than we are willing to wait."""


class SchemaError(DatabaseError):
    """The database schema is newer than this version of cctvctl understands."""


class ConflictError(DatabaseError):
    """A transaction lost a write conflict (MySQL deadlock 1213; on Galera a certification
    failure at commit). Nothing of it was applied; the whole operation may be run again."""


class OutputError(CctvError):
    """A file cctvctl writes could not be written (disk full, no permission); nothing was kept."""

    exit_code = 1
