"""Resumable HTTP download of one file, verified against its SHA-256.

The transfer layer of :mod:`ealstm.data.acquire.download`, kept apart from the data-set catalogue so
that it can be used (and tested) on its own: :func:`download_file` streams a URL to
``<dest>.part``, resumes an interrupted transfer with an HTTP ``Range`` request, checks the
SHA-256 and only then renames the file onto ``dest``. :class:`DownloadError` is the error of
every download, checksum and archive failure.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from tqdm.auto import tqdm

from ealstm import __version__
from ealstm.errors import ConfigError, DownloadError

log = logging.getLogger(__name__)

MIB = 1 << 20
_USER_AGENT = f"ealstm/{__version__} (Python urllib)"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-\d+/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


def download_file(url: str, dest: Path, sha256: str | None = None, progress: bool = True,
                  chunk_size: int = MIB, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, resumably, and verify its SHA-256.

    Bytes are streamed to ``<dest>.part``. If that file exists (an interrupted earlier call),
    the download resumes with ``Range: bytes=<size>-``; a server that ignores the range (status
    200) makes it restart from byte 0. Only a complete, verified file is renamed onto ``dest``.

    Parameters
    ----------
    url, dest : str, Path
        What to download and where to. An existing ``dest`` that has the expected ``sha256``
        is returned without any request.
    sha256 : str, optional
        Expected SHA-256 (hex). ``None``: the digest is computed, logged, and not verified.
    progress, chunk_size, timeout : bool, int, float
        tqdm progress bar; bytes per read (1 MiB); seconds to wait to connect and per read.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DownloadError
        Unreachable URL or HTTP error; transfer cut short (the ``.part`` file is kept: rerun to
        resume); checksum mismatch (the ``.part`` file is deleted).
    """
    dest = Path(dest)
    expected = normalise_digest(sha256, f"sha256 of {url}") if sha256 else None
    if expected and dest.is_file() and sha256_of(dest).hexdigest() == expected:
        log.info("%s is already complete (sha256 verified)", dest)
        return dest
    fetch_file(url, dest, expected, progress, chunk_size, timeout)
    return dest


def fetch_file(url: str, dest: Path, expected: str | None, progress: bool, chunk_size: int = MIB,
           timeout: float = 60.0) -> str:
    """Download to ``<dest>.part``, verify, rename onto ``dest``; return the SHA-256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    response, offset = _open(url, part, timeout)
    if response is None:  # 416: the part file already holds the whole file
        digest = sha256_of(part).hexdigest()
    else:
        with response:
            digest = _stream(response, part, offset, url, progress, chunk_size)
    _verify(url, part, digest, expected)
    part.replace(dest)
    return digest


def _open(url: str, part: Path, timeout: float) -> tuple[Any, int]:
    """Open ``url``, asking for the bytes after those already in ``part``.

    Returns ``(response, offset)`` where ``offset`` is where the body starts in the file (0 when
    the server ignored the range), or ``(None, size)`` when ``part`` is already complete.
    """
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return _unsatisfiable_range(url, part, offset, exc.headers, timeout)
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the "
                            "URL or try again later") from exc
    except (URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url}: {reason}; check the network connection "
                            "(and proxy settings), then rerun") from exc
    return _resume_offset(url, part, offset, response, timeout)


def _unsatisfiable_range(url: str, part: Path, offset: int, headers: Any,
                         timeout: float) -> tuple[Any, int]:
    """Handle HTTP 416: ``part`` is complete when the remote size equals its size."""
    match = _UNSATISFIED_RANGE.match(headers.get("Content-Range", "") if headers else "")
    if match and int(match.group(1)) == offset:
        log.info("%s: %s already holds all %d bytes", url, part, offset)
        return None, offset
    log.warning("%s: %s does not fit the remote file; downloading from the start", url, part)
    part.unlink()
    return _open(url, part, timeout)


def _resume_offset(url: str, part: Path, offset: int, response: Any,
                   timeout: float) -> tuple[Any, int]:
    """Check that the server resumed where asked; restart from 0 when it did not."""
    if response.status not in (200, 206):
        response.close()
        raise DownloadError(f"download of {url} failed: unexpected HTTP status "
                            f"{response.status}")
    if not offset:
        return response, 0
    if response.status == 200:
        log.info("%s: the server does not support resuming; restarting from byte 0", url)
        return response, 0
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if match is None or int(match.group(1)) != offset:
        log.warning("%s: the server resumed at the wrong byte; restarting from byte 0", url)
        response.close()
        part.unlink()
        return _open(url, part, timeout)
    log.info("%s: resuming after %d bytes already in %s", url, offset, part)
    return response, offset


def _stream(response: Any, part: Path, offset: int, url: str, progress: bool,
            chunk_size: int) -> str:
    """Append the response body to ``part`` (or overwrite it when ``offset`` is 0)."""
    length = _content_length(response)
    check_free_space(part.parent, length, f"downloading {url}")
    hasher = sha256_of(part) if offset else hashlib.sha256()
    received = 0
    total = None if length is None else offset + length
    with open(part, "ab" if offset else "wb") as handle, \
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                 desc=part.name[: -len(".part")], disable=not progress, leave=False) as bar:
        try:
            while chunk := response.read(chunk_size):
                handle.write(chunk)
                hasher.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(f"download of {url} was interrupted after {offset + received} "
                                f"bytes ({exc}); they are kept in {part}: rerun the same "
                                "command to resume") from exc
    if length is not None and received < length:
        raise DownloadError(f"download of {url} is truncated: got {offset + received} of "
                            f"{total} bytes (Content-Length); they are kept in {part}: rerun "
                            "the same command to resume")
    return hasher.hexdigest()


def _content_length(response: Any) -> int | None:
    """Return the Content-Length header as an int, or ``None`` when absent or malformed."""
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _verify(url: str, part: Path, digest: str, expected: str | None) -> None:
    """Compare ``digest`` with ``expected``; delete ``part`` and raise on a mismatch."""
    if expected is None:
        warn_unverified(url, digest)
        return
    if digest != expected:
        part.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for {url}: expected sha256 {expected}, got "
                            f"{digest}; the corrupt download was deleted, rerun to download it "
                            "again (or check the expected digest)")
    log.info("%s: sha256 %s verified", url, digest)


def warn_unverified(url: str, digest: str) -> None:
    """Report the computed digest of a file that has no official checksum."""
    log.warning("sha256 of %s is %s: NOT verified (no official checksum is registered); pass "
                "the publisher's digest with --sha256 FILENAME=DIGEST to verify it", url, digest)


def sha256_of(path: Path) -> Any:
    """``hashlib.sha256`` object fed with the bytes of ``path``."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            hasher.update(chunk)
    return hasher


def normalise_digest(value: str, what: str) -> str:
    """Lower-case hex SHA-256 or ``ConfigError`` naming ``what``."""
    digest = str(value).strip().lower()
    if not _HEX64.match(digest):
        raise ConfigError(f"{what}: {value!r} is not a SHA-256 digest (64 hexadecimal "
                          "characters)")
    return digest


def check_free_space(folder: Path, needed: int | None, what: str) -> None:
    """Raise ``DownloadError`` when ``folder``'s file system has less than ``needed`` bytes."""
    if not needed:
        return
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DownloadError(f"{what} needs {needed / 1e9:.2f} GB but only {free / 1e9:.2f} GB "
                            f"are free in {folder}; free some space or choose another folder")

