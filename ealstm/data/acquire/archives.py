"""Safe unpacking of zip and tar archives downloaded from the internet.

An archive from a remote server is untrusted input: a member named ``/etc/x`` or ``../x``, or a
link pointing outside the target folder (directly or through other links of the archive), could
write anywhere on disk. :func:`extract_archive` therefore checks every member before it writes
anything, detects the archive type from the content rather than the name, and reports corrupt
archives as :class:`~ealstm.errors.DownloadError`.

Only a sub-folder of the unpacked archive may become the data folder (the download installer
moves its contents there). :func:`check_links_confined` therefore checks, before that move,
every link against that FINAL folder: a link that stays inside the unpacked archive but leaves
the sub-folder (``a/b/c/d/camels_attributes_v2.0 -> ../../OUTSIDE``) would otherwise point
outside the data folder, and later downloads would write through it.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from ealstm.data.acquire.fetch import check_free_space
from ealstm.errors import DataNotFoundError, DownloadError

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")  # Python >= 3.12, 3.11.4, 3.10.12
_MAX_LINK_DEPTH = 40


def extract_archive(archive: Path, dest_dir: Path) -> list[Path]:
    """Safely unpack a zip or tar (``.tar``, ``.tar.gz``, ``.tar.xz``, ...) archive.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    device files, symbolic or hard links pointing outside ``dest_dir`` (also through other links
    of the archive), and members that resolve outside ``dest_dir`` (through links already on
    disk) are rejected. Symbolic links in zip archives are rejected altogether. Tar archives are
    then extracted with ``filter="data"`` where Python provides it.

    Parameters
    ----------
    archive : Path
        The archive; its type is detected from its content, not its name.
    dest_dir : Path
        Target folder, created if needed.

    Returns
    -------
    list of Path
        Paths of the extracted members, in archive order.

    Raises
    ------
    DownloadError
        Unsafe member (the message names it), corrupt archive, not an archive, or not enough
        free disk space.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise DataNotFoundError(f"archive {archive} does not exist")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, dest)
    if tarfile.is_tarfile(archive):
        return _extract_tar(archive, dest)
    raise DownloadError(f"{archive} is neither a zip nor a tar archive; delete it and download "
                        "it again")


def _member_target(name: str, dest: Path, archive: Path) -> Path:
    """Path that member ``name`` would be written to; raise if it is absolute or escapes."""
    if not name or "\x00" in name:
        raise DownloadError(f"{archive}: member {name!r} has an empty or invalid name; refusing "
                            "to extract the archive")
    if name.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(name):
        raise DownloadError(f"{archive}: member {name!r} has an absolute path; refusing to "
                            "extract the archive")
    if ".." in re.split(r"[/\\]", name):
        raise DownloadError(f"{archive}: member {name!r} contains a '..' component; refusing to "
                            "extract the archive")
    target = (dest / name).resolve()
    if not target.is_relative_to(dest):
        raise DownloadError(f"{archive}: member {name!r} resolves to {target}, outside {dest}; "
                            "refusing to extract the archive")
    return target


def _extract_zip(archive: Path, dest: Path) -> list[Path]:
    """Check all zip members, then extract them."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _member_target(info.filename, dest, archive)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise DownloadError(f"{archive}: member {info.filename!r} is a symbolic "
                                        "link; ealstm does not extract links from zip archives")
            check_free_space(dest, sum(i.file_size for i in infos), f"extracting {archive}")
            return [Path(zf.extract(info, dest)) for info in infos]
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DownloadError(f"{archive} is corrupt ({exc}); delete it and download it "
                            "again") from exc


def _extract_tar(archive: Path, dest: Path) -> list[Path]:
    """Check all tar members, then extract them (``filter="data"`` where available)."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            _check_tar_members(members, dest, archive)
            size = sum(m.size for m in members if m.isreg())
            check_free_space(dest, size, f"extracting {archive}")
            _extract_tar_members(tar, members, dest, archive)
    except (tarfile.ReadError, tarfile.CompressionError, tarfile.ExtractError, zlib.error,
            EOFError) as exc:
        raise DownloadError(f"{archive} is corrupt or truncated ({exc}); delete it and download "
                            "it again") from exc
    return [dest / _normalise_name(m.name) for m in members if _normalise_name(m.name)]


def _extract_tar_members(tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: Path,
                         archive: Path) -> None:
    """Extract checked members; Python's ``data`` filter re-checks each one on the way."""
    if _HAS_DATA_FILTER:
        try:
            tar.extractall(dest, members=members, filter="data")
        except tarfile.FilterError as exc:
            member = getattr(exc, "tarinfo", None)
            name = member.name if member is not None else "?"
            raise DownloadError(f"{archive}: member {name!r} rejected ({exc}); refusing to "
                                "extract the archive") from exc
        return
    for member in members:  # older Python: re-check against the links extracted so far
        _member_target(member.name, dest, archive)
        tar.extract(member, dest)


def _check_tar_members(members: list[tarfile.TarInfo], dest: Path, archive: Path) -> None:
    """Reject special files, escaping paths and escaping links, before extracting anything."""
    links = {_normalise_name(m.name): m.linkname for m in members if m.issym()}
    for member in members:
        name = member.name
        _member_target(name, dest, archive)
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise DownloadError(f"{archive}: member {name!r} is a device, FIFO or other special "
                                "file; refusing to extract the archive")
        parent = _normalise_name(name).split("/")[:-1]
        if _resolve_in_archive(parent, links) is None:
            raise DownloadError(f"{archive}: member {name!r} is written through a link that "
                                "points outside the target folder; refusing to extract")
        if member.issym() or member.islnk():
            _check_link(member, parent, links, dest, archive)


def _check_link(member: tarfile.TarInfo, parent: list[str], links: Mapping[str, str],
                dest: Path, archive: Path) -> None:
    """Reject a symbolic or hard link whose target lies outside ``dest``."""
    kind = "symbolic link" if member.issym() else "hard link"
    target = member.linkname
    base = parent if member.issym() else []  # hard links are relative to the archive root
    escapes = (not target or target.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(target)
               or _resolve_in_archive(base + re.split(r"[/\\]", target), links) is None)
    if not escapes:
        on_disk = (dest.joinpath(*base) / target).resolve()
        escapes = not on_disk.is_relative_to(dest)
    if escapes:
        raise DownloadError(f"{archive}: member {member.name!r} is a {kind} to {target!r}, "
                            "outside the target folder; refusing to extract the archive")


def _normalise_name(name: str) -> str:
    """``"./a//b/"`` -> ``"a/b"``: the archive-relative path of a member."""
    return "/".join(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _resolve_in_archive(parts: list[str], links: Mapping[str, str],
                        depth: int = 0) -> list[str] | None:
    """Resolve path components against the archive's own symbolic links.

    Returns the resolved components relative to the archive root, or ``None`` when the path
    leaves the root (or the links loop).
    """
    if depth > _MAX_LINK_DEPTH:
        return None
    out: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(part)
        target = links.get("/".join(out))
        if target is not None:
            if target.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(target):
                return None
            resolved = _resolve_in_archive(out[:-1] + re.split(r"[/\\]", target), links,
                                           depth + 1)
            if resolved is None:
                return None
            out = resolved
    return out



def check_links_confined(tree: Path, unpacked: Path, archive: Path) -> None:
    """Reject links in ``tree`` (part of the ``unpacked`` archive) that lead outside ``tree``.

    ``tree`` is the folder whose contents become the data folder. Symbolic links (also chains
    of them) must resolve inside it, and a hard link must not share its file with a member
    outside it.

    Raises
    ------
    DownloadError
        Naming the member, its link target and the archive.
    """
    tree = Path(os.path.realpath(tree))
    outside = {_inode(p) for p in _entries(Path(unpacked), skip=tree)
               if p.is_file() and not p.is_symlink()}
    for path in _entries(tree):
        name = path.relative_to(tree).as_posix()
        if path.is_symlink():
            target = os.readlink(path)
            if not Path(os.path.realpath(path)).is_relative_to(tree):
                raise DownloadError(f"{archive}: member {name!r} is a symbolic link to "
                                    f"{target!r}, which leads outside the data folder it would "
                                    "be installed in; refusing to install the archive")
        elif path.is_file() and path.lstat().st_nlink > 1 and _inode(path) in outside:
            raise DownloadError(f"{archive}: member {name!r} is a hard link to a member outside "
                                "the data folder it would be installed in; refusing to install "
                                "the archive")


def _entries(root: Path, skip: Path | None = None) -> list[Path]:
    """Every file, folder and link below ``root`` (links not followed), except ``skip``."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if skip is None or Path(folder, d).resolve() != skip]
        found += [Path(folder, name) for name in [*dirs, *files]]
    return found


def _inode(path: Path) -> tuple[int, int]:
    info = path.lstat()
    return info.st_dev, info.st_ino
