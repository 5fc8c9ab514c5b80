"""Typed errors of ``ealstm``.

Each subclasses a builtin so that ``except FileNotFoundError`` or ``except ValueError`` in user
code still works, and each message names the file, basin, column or config key and the fix.
"""


class EalstmError(Exception):
    """Base class of every error raised on purpose by ``ealstm``."""


class ConfigError(EalstmError, ValueError):
    """A configuration value is invalid; the message names the key and the fix."""


class DataNotFoundError(EalstmError, FileNotFoundError):
    """A data file or folder that the configuration points to does not exist."""


class BasinDataError(EalstmError, ValueError):
    """A data file exists but its content is unusable (bad header, no valid values, ...)."""


class NoValidDataError(EalstmError, ValueError):
    """A metric, loss or window index received no valid (finite) value to work with."""


class CheckpointError(EalstmError, ValueError):
    """A checkpoint or run directory is missing, incomplete or from an incompatible run."""


class RunLockedError(EalstmError, RuntimeError):
    """Another process holds the lock of a run folder (or experiment member); names its pid."""


class IntegrityError(EalstmError, ValueError):
    """A file does not match the SHA-256 checksum written with it (corrupt or changed)."""
class TrainingDivergedError(EalstmError, FloatingPointError):
    """Training produced a non-finite loss or gradient; the message names epoch and batch."""


class FileFormatError(EalstmError, ValueError):
    """A file of a run (JSON, YAML) exists but cannot be parsed: corrupt or not UTF-8."""


class StorageError(EalstmError, OSError):
    """A file could not be written: disk full, read-only file system or no permission."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()


class WorkerDiedError(EalstmError, RuntimeError):
    """A worker process ended without reporting a result (killed, crashed, ``os._exit``)."""


class SearchError(EalstmError, RuntimeError):
    """Some trials failed; the message lists them (results of the others are written)."""


class ExperimentError(EalstmError, RuntimeError):
    """One or more members of an experiment failed; the message lists them."""


class MissingDependencyError(EalstmError, ImportError):
    """An optional dependency (here: ``dask.distributed``) is not installed."""


class DownloadError(EalstmError, OSError):
    """A download or an archive failed; the message names the URL / file / member and the fix.

    Raised for an unreachable URL, a truncated transfer, a wrong checksum, or an unsafe or
    corrupt archive.
    """
