"""Tests of ealstm.data.acquire.download against a local HTTP server (no internet needed)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ealstm.data.acquire import archives
from ealstm.data.acquire import download as dl
from ealstm.data.acquire.archives import extract_archive
from ealstm.data.acquire.download import download_dataset
from ealstm.data.acquire.fetch import download_file
from ealstm.errors import ConfigError, DownloadError, EalstmError

# --------------------------------------------------------------------------------------------
# local HTTP server with Range support and switchable misbehaviour
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Serve ``server.files``; honour ``Range: bytes=N-`` unless told to misbehave."""

    def do_GET(self) -> None:  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
        srv = self.server
        path = urlsplit(self.path).path
        header = self.headers.get("Range")
        srv.requests.append((path, header))
        body = srv.files.get(path)
        if body is None:
            self.send_error(404, "not found")
            return
        match = re.fullmatch(r"bytes=(\d+)-", header or "")
        start = int(match.group(1)) if match and not srv.ignore_range else 0
        if start and start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))  # always the full length
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        payload = body[start:]
        if srv.truncate_after is not None:
            payload = payload[: srv.truncate_after]
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


class LocalServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that records requests and can truncate bodies or ignore Range."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.truncate_after: int | None = None
        self.ignore_range = False

    def add(self, path: str, body: bytes) -> str:
        """Serve ``body`` at ``path``; return its URL."""
        self.files[path] = body
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def ranges(self, path: str) -> list[str | None]:
        return [r for p, r in self.requests if p == path]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    httpd = LocalServer()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_bytes(members: dict[str, bytes | None]) -> bytes:
    """Zip with the given member names (``None`` = directory entry), names kept verbatim."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data if data is not None else b"")
    return buffer.getvalue()


def tar_bytes(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    """tar.gz of ``(name, data)`` files and ready-made TarInfo entries (links, dirs)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


PAYLOAD = bytes(range(256)) * 4000  # 1 MB, not a multiple of the chunk size


# --------------------------------------------------------------------------------------------
# download_file
# --------------------------------------------------------------------------------------------


def test_download_error_types() -> None:
    assert issubclass(DownloadError, EalstmError) and issubclass(DownloadError, OSError)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_full_download_with_checksum(server: LocalServer, tmp_path: Path, kind: str) -> None:
    body = zip_bytes({"a/b.txt": b"hello"}) if kind == "zip" else tar_bytes([("a/b.txt", b"hi")])
    url = server.add(f"/data.{kind}", body)
    dest = tmp_path / "sub" / f"data.{kind}"
    assert download_file(url, dest, sha256=sha(body).upper(), progress=False) == dest
    assert dest.read_bytes() == body
    assert not dest.with_name(dest.name + ".part").exists()
    assert server.ranges(f"/data.{kind}") == [None]


def test_existing_verified_file_is_not_downloaded_again(server: LocalServer,
                                                       tmp_path: Path) -> None:
    url = server.add("/x.bin", PAYLOAD)
    dest = tmp_path / "x.bin"
    download_file(url, dest, sha256=sha(PAYLOAD), progress=False)
    download_file(url, dest, sha256=sha(PAYLOAD), progress=False)
    assert len(server.requests) == 1


def test_wrong_checksum_deletes_download(server: LocalServer, tmp_path: Path) -> None:
    url = server.add("/corrupt.zip", PAYLOAD)
    dest = tmp_path / "corrupt.zip"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        download_file(url, dest, sha256=wrong, progress=False)
    message = str(info.value)
    assert url in message and wrong in message and sha(PAYLOAD) in message
    assert not dest.exists() and not (tmp_path / "corrupt.zip.part").exists()


def test_malformed_checksum_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SHA-256"):
        download_file("http://127.0.0.1:9/x", tmp_path / "x", sha256="abc", progress=False)


def test_unverified_download_logs_digest(server: LocalServer, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    url = server.add("/plain.bin", PAYLOAD)
    with caplog.at_level(logging.WARNING, logger="ealstm.data.acquire.fetch"):
        download_file(url, tmp_path / "plain.bin", progress=False)
    assert sha(PAYLOAD) in caplog.text and "NOT verified" in caplog.text


def test_truncated_download_then_resume(server: LocalServer, tmp_path: Path) -> None:
    url = server.add("/big.bin", PAYLOAD)
    dest = tmp_path / "big.bin"
    part = tmp_path / "big.bin.part"
    server.truncate_after = 300_000
    with pytest.raises(DownloadError, match="rerun") as info:
        download_file(url, dest, sha256=sha(PAYLOAD), progress=False, chunk_size=65536)
    assert "truncated" in str(info.value) or "interrupted" in str(info.value)
    assert not dest.exists()
    assert part.read_bytes() == PAYLOAD[:300_000]

    server.truncate_after = None
    download_file(url, dest, sha256=sha(PAYLOAD), progress=False, chunk_size=65536)
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    assert server.ranges("/big.bin") == [None, "bytes=300000-"]


def test_server_ignoring_range_restarts_cleanly(server: LocalServer, tmp_path: Path) -> None:
    url = server.add("/norange.bin", PAYLOAD)
    dest = tmp_path / "norange.bin"
    (tmp_path / "norange.bin.part").write_bytes(b"stale bytes of an older attempt")
    server.ignore_range = True
    download_file(url, dest, sha256=sha(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges("/norange.bin") == ["bytes=31-"]


def test_part_file_already_complete(server: LocalServer, tmp_path: Path) -> None:
    url = server.add("/done.bin", PAYLOAD)
    (tmp_path / "done.bin.part").write_bytes(PAYLOAD)  # e.g. killed before the rename
    download_file(url, tmp_path / "done.bin", sha256=sha(PAYLOAD), progress=False)
    assert (tmp_path / "done.bin").read_bytes() == PAYLOAD
    assert server.ranges("/done.bin") == [f"bytes={len(PAYLOAD)}-"]  # answered 416


def test_part_file_longer_than_remote_restarts(server: LocalServer, tmp_path: Path) -> None:
    url = server.add("/short.bin", b"short")
    (tmp_path / "short.bin.part").write_bytes(b"much longer than the remote file")
    download_file(url, tmp_path / "short.bin", sha256=sha(b"short"), progress=False)
    assert (tmp_path / "short.bin").read_bytes() == b"short"


def test_http_error_names_url(server: LocalServer, tmp_path: Path) -> None:
    url = server.add("/exists", b"x").replace("/exists", "/missing")
    with pytest.raises(DownloadError, match="404") as info:
        download_file(url, tmp_path / "missing", progress=False)
    assert url in str(info.value)


def test_unreachable_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with pytest.raises(DownloadError, match="cannot reach"):
        download_file("http://127.0.0.1:9/x", tmp_path / "x", progress=False, timeout=5)


# --------------------------------------------------------------------------------------------
# extract_archive
# --------------------------------------------------------------------------------------------


def test_extract_zip_and_tar(tmp_path: Path) -> None:
    archive = tmp_path / "ok.zip"
    archive.write_bytes(zip_bytes({"top/": None, "top/a.txt": b"A", "top/d/b.txt": b"B"}))
    paths = extract_archive(archive, tmp_path / "z")
    assert (tmp_path / "z/top/d/b.txt").read_bytes() == b"B"
    assert (tmp_path / "z/top/a.txt").resolve() in [p.resolve() for p in paths]

    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(tar_bytes([("./top/a.txt", b"A"), ("top/sub/b.txt", b"B"),
                                   link("top/alias", "sub"), ("top/alias/c.txt", b"C")]))
    paths = extract_archive(archive, tmp_path / "t")
    assert (tmp_path / "t/top/sub/c.txt").read_bytes() == b"C"  # written through the link
    assert (tmp_path / "t/top/alias").is_symlink()
    assert tmp_path / "t/top/a.txt" in paths


def test_extract_tar_without_data_filter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Older Pythons (no tarfile.data_filter) use the member-by-member fallback."""
    monkeypatch.setattr(archives, "_HAS_DATA_FILTER", False)
    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(tar_bytes([("top/sub/b.txt", b"B"), link("top/alias", "sub")]))
    extract_archive(archive, tmp_path / "t")
    assert (tmp_path / "t/top/alias/b.txt").read_bytes() == b"B"
    archive.write_bytes(tar_bytes([("fine.txt", b"ok"), link("a", "."), link("b", "a/..")]))
    _assert_rejected(archive, tmp_path / "bad", "b", tmp_path / "evil.txt")


def _assert_rejected(archive: Path, dest: Path, member: str, outside: Path) -> None:
    with pytest.raises(DownloadError) as info:
        extract_archive(archive, dest)
    assert repr(member) in str(info.value)
    assert not outside.exists()
    assert list(dest.iterdir()) == []  # nothing extracted: every member is checked first


@pytest.mark.parametrize("member", ["../evil.txt", "ok/../../evil.txt", "/tmp/evil-abs.txt"])
def test_zip_traversal_rejected(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "bad.zip"
    archive.write_bytes(zip_bytes({"fine.txt": b"ok", member: b"pwned"}))
    _assert_rejected(archive, tmp_path / "out", member, tmp_path / "evil.txt")


def test_zip_symlink_rejected(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = (0o120777 << 16)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("fine.txt", b"ok")
        zf.writestr(info, "../../etc")
    archive = tmp_path / "link.zip"
    archive.write_bytes(buffer.getvalue())
    _assert_rejected(archive, tmp_path / "out", "link", tmp_path / "etc")


@pytest.mark.parametrize(("members", "bad"), [
    ([("fine.txt", b"ok"), (f"{'/'}abs-evil.txt", b"x")], "/abs-evil.txt"),
    ([("fine.txt", b"ok"), ("../evil.txt", b"x")], "../evil.txt"),
    ([("fine.txt", b"ok"), link("escape", "../")], "escape"),
    ([("fine.txt", b"ok"), link("abs", "/etc")], "abs"),
    ([("fine.txt", b"ok"), link("hard", "../evil.txt", tarfile.LNKTYPE)], "hard"),
    # a chain of individually harmless-looking links that ends outside
    ([("fine.txt", b"ok"), link("a", "."), link("b", "a/..")], "b"),
    ([link("d", "."), ("fine.txt", b"ok"), link("d/up", "../..")], "d/up"),
])
def test_tar_escapes_rejected(tmp_path: Path, members: list, bad: str) -> None:
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(tar_bytes(members))
    _assert_rejected(archive, tmp_path / "out", bad, tmp_path / "evil.txt")
    assert not Path("/abs-evil.txt").exists()


def test_tar_member_through_escaping_link_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(tar_bytes([link("up", ".."), ("up/evil.txt", b"x")]))
    with pytest.raises(DownloadError):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_existing_link_in_dest_is_not_followed_outside(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "sneaky").symlink_to(tmp_path)
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes({"sneaky/evil.txt": b"x"}))
    with pytest.raises(DownloadError, match="sneaky/evil.txt"):
        extract_archive(archive, dest)
    assert not (tmp_path / "evil.txt").exists()


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "data.zip"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(DownloadError, match="neither a zip nor a tar"):
        extract_archive(path, tmp_path / "out")


def test_truncated_tar_gz_is_reported_corrupt(tmp_path: Path) -> None:
    body = tar_bytes([("a.bin", PAYLOAD)])
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(body[: len(body) // 2])
    with pytest.raises(DownloadError, match="corrupt"):
        extract_archive(path, tmp_path / "out")


# --------------------------------------------------------------------------------------------
# download_dataset
# --------------------------------------------------------------------------------------------


def test_unknown_dataset_lists_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="camels-us") as info:
        download_dataset("camels_us", tmp_path)
    assert "caravan" in str(info.value) and "did you mean 'camels-us'" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_registry_points_at_official_hosts() -> None:
    camels = dl.SOURCES["camels-us"]
    names = [f.filename for f in camels.files]
    assert names[0] == "basin_timeseries_v1p2_metForcing_obsFlow.zip"
    assert {f"camels_{k}.txt" for k in ("clim", "geol", "hydro", "name", "soil", "topo",
                                         "vege")} <= set(names)
    assert all(f.url.startswith("https://gdex.ucar.edu/dataset/camels/file/")
               for f in camels.files)
    assert dl.SOURCES["caravan"].files[0].url.startswith("https://zenodo.org/records/")
    assert "camels-us" in dl.format_sources()


@pytest.fixture(scope="module")
def camels_like(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Files of a tiny CAMELS-US download, keyed by the registry's file names."""
    from ealstm.data.synthetic.demo import generate_demo_data

    tree = generate_demo_data(tmp_path_factory.mktemp("demo"), n_basins=2, start="2000-01-01",
                              end="2000-12-31", seed=1)
    members: dict[str, bytes | None] = {"basin_dataset_public/": None}
    for folder in ("basin_mean_forcing", "usgs_streamflow"):
        for path in sorted((tree / folder).rglob("*.txt")):
            members[f"basin_dataset_public_v1p2/{path.relative_to(tree).as_posix()}"] = \
                path.read_bytes()
    files = {"basin_timeseries_v1p2_metForcing_obsFlow.zip": zip_bytes(members)}
    for path in sorted((tree / "camels_attributes_v2.0").glob("camels_*.txt")):
        files[path.name] = path.read_bytes()
    return files


def _serve_source(server: LocalServer, source: dl.DataSource, bodies: dict[str, bytes],
                  sha256: dict[str, str] | None = None) -> dl.DataSource:
    """Copy of ``source`` whose files are served by ``server``."""
    sha256 = sha256 or {}
    files = tuple(dataclasses.replace(f, url=server.add(f"/{f.filename}", bodies[f.filename]),
                                      sha256=sha256.get(f.filename))
                  for f in source.files)
    return dataclasses.replace(source, files=files)


def test_download_camels_us_end_to_end(server: LocalServer, tmp_path: Path,
                                       camels_like: dict[str, bytes],
                                       monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    from ealstm.data.readers.camels_us import available_basins, read_attributes, read_forcings

    archive = "basin_timeseries_v1p2_metForcing_obsFlow.zip"
    source = _serve_source(server, dl.SOURCES["camels-us"], camels_like,
                           {archive: sha(camels_like[archive])})
    monkeypatch.setitem(dl.SOURCES, "camels-us", source)
    with caplog.at_level(logging.WARNING, logger="ealstm.data.acquire.fetch"):
        data_dir = download_dataset("camels-us", tmp_path / "data", progress=False)

    assert data_dir == tmp_path / "data" / "camels_us"
    for folder in ("basin_mean_forcing", "usgs_streamflow", "camels_attributes_v2.0"):
        assert (data_dir / folder).is_dir()
    assert not (data_dir / "basin_dataset_public_v1p2").exists()
    basins = available_basins(data_dir, "nldas")
    assert len(basins) == 2
    forcings, area = read_forcings(data_dir, basins[0], "nldas")
    assert len(forcings) == 366 and area > 0
    assert list(read_attributes(data_dir).index) == basins
    assert sha(camels_like["camels_clim.txt"]) in caplog.text  # unverified digest reported
    assert (tmp_path / "data" / "downloads" / archive).is_file()
    assert not list((tmp_path / "data" / "downloads").glob(".extract-*"))

    n_requests = len(server.requests)
    assert download_dataset("camels-us", tmp_path / "data", progress=False) == data_dir
    assert len(server.requests) == n_requests  # everything skipped


def test_download_dataset_reuses_verified_archive(server: LocalServer, tmp_path: Path,
                                                  camels_like: dict[str, bytes],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    archive = "basin_timeseries_v1p2_metForcing_obsFlow.zip"
    monkeypatch.setitem(dl.SOURCES, "camels-us",
                        _serve_source(server, dl.SOURCES["camels-us"], camels_like))
    data_dir = download_dataset("camels-us", tmp_path, progress=False)
    (data_dir / dl.STATE_FILE).unlink()  # forget the installation, keep the archive
    n_requests = len(server.requests)
    download_dataset("camels-us", tmp_path, progress=False,
                     sha256={archive: sha(camels_like[archive])})
    assert server.ranges(f"/{archive}") == [None]  # the archive was re-hashed, not fetched
    assert len(server.requests) == n_requests  # attribute files re-hashed too
    assert (data_dir / "usgs_streamflow").is_dir()


def test_download_dataset_wrong_override_fails(server: LocalServer, tmp_path: Path,
                                               camels_like: dict[str, bytes],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(dl.SOURCES, "camels-us",
                        _serve_source(server, dl.SOURCES["camels-us"], camels_like))
    digests = dl.parse_sha256_args(["f" * 64], "camels-us")  # bare digest -> the archive
    assert list(digests) == ["basin_timeseries_v1p2_metForcing_obsFlow.zip"]
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_dataset("camels-us", tmp_path, progress=False, sha256=digests)
    assert not list((tmp_path / "downloads").glob("basin_timeseries*"))
    with pytest.raises(ConfigError, match="not files of camels-us"):
        download_dataset("camels-us", tmp_path, progress=False, sha256={"nope.zip": "f" * 64})


def test_parse_sha256_args() -> None:
    digest = "A" * 64
    assert dl.parse_sha256_args([f"camels_clim.txt={digest}"], "camels-us") == {
        "camels_clim.txt": digest}
    assert dl.parse_sha256_args([digest], "caravan") == {"Caravan.zip": digest}
    with pytest.raises(ConfigError, match="unknown data set"):
        dl.parse_sha256_args([digest], "camels")


def test_download_dataset_attributes_as_archive(server: LocalServer, tmp_path: Path,
                                                camels_like: dict[str, bytes],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The arrangement also handles NCAR's older camels_attributes_v2.0.zip packaging."""
    from ealstm.data.readers.camels_us import read_attributes

    attributes = {f"camels_attributes_v2.0/{k}": v for k, v in camels_like.items()
                  if k.startswith("camels_")}
    bodies = {"ts.zip": camels_like["basin_timeseries_v1p2_metForcing_obsFlow.zip"],
              "camels_attributes_v2.0.zip": zip_bytes(attributes)}
    base = dl.SOURCES["camels-us"]
    spec = dl.RemoteFile("camels_attributes_v2.0.zip", "", extract=True,
                         markers=("camels_clim.txt",), dest="camels_attributes_v2.0")
    source = dataclasses.replace(base, files=(dataclasses.replace(base.files[0], filename="ts.zip"),
                                              spec))
    monkeypatch.setitem(dl.SOURCES, "camels-us", _serve_source(server, source, bodies))
    data_dir = download_dataset("camels-us", tmp_path, progress=False, keep_archives=False)
    assert len(read_attributes(data_dir)) == 2
    assert not (tmp_path / "downloads" / "ts.zip").exists()
    n_requests = len(server.requests)
    download_dataset("camels-us", tmp_path, progress=False)  # state file: nothing to do
    assert len(server.requests) == n_requests


def test_download_caravan_tar_gz(server: LocalServer, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    body = tar_bytes([("Caravan/attributes/camels/attributes_caravan_camels.csv", b"gauge_id\n"),
                      ("Caravan/timeseries/csv/camels/camels_01022500.csv", b"date\n"),
                      ("Caravan/licenses/README.md", b"CC-BY-4.0\n")])
    base = dl.SOURCES["caravan"]
    source = dataclasses.replace(base, files=(dataclasses.replace(base.files[0],
                                                                  filename="Caravan.tar.gz"),))
    monkeypatch.setitem(dl.SOURCES, "caravan",
                        _serve_source(server, source, {"Caravan.tar.gz": body},
                                      {"Caravan.tar.gz": sha(body)}))
    data_dir = download_dataset("caravan", tmp_path, progress=False)
    assert data_dir == tmp_path / "caravan"
    assert (data_dir / "timeseries/csv/camels/camels_01022500.csv").is_file()
    assert (data_dir / "attributes").is_dir() and (data_dir / "licenses").is_dir()


def test_unexpected_layout_is_reported(server: LocalServer, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    base = dl.SOURCES["caravan"]
    body = zip_bytes({"Something/else.txt": b"x"})
    monkeypatch.setitem(dl.SOURCES, "caravan",
                        _serve_source(server, base, {"Caravan.zip": body}))
    with pytest.raises(DownloadError, match="layout may have changed"):
        download_dataset("caravan", tmp_path, progress=False)


# --------------------------------------------------------------------------------------------
# links checked against the FINAL data folder (not only the unpacked archive)
# --------------------------------------------------------------------------------------------


def _camels_tar(extra: list) -> bytes:
    """CAMELS-like time-series archive whose data folder is ``a/b/c/d`` (plus ``extra``)."""
    return tar_bytes([("a/b/c/d/basin_mean_forcing/nldas/01/x.txt", b"x"),
                      ("a/b/c/d/usgs_streamflow/01/y.txt", b"y"), *extra])


def _serve_camels(server: LocalServer, monkeypatch: pytest.MonkeyPatch, body: bytes,
                  camels_like: dict[str, bytes]) -> None:
    base = dl.SOURCES["camels-us"]
    ts = dataclasses.replace(base.files[0], filename="ts.tar.gz")
    source = dataclasses.replace(base, files=(ts, *base.files[1:]))
    monkeypatch.setitem(dl.SOURCES, "camels-us",
                        _serve_source(server, source, {**camels_like, "ts.tar.gz": body}))


def test_link_leaving_the_final_folder_is_rejected(server: LocalServer, tmp_path: Path,
                                                   camels_like: dict[str, bytes],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # inside the unpacked archive, but outside a/b/c/d, which becomes <data_dir>
    body = _camels_tar([("a/b/OUTSIDE/keep.txt", b"k"),
                        link("a/b/c/d/camels_attributes_v2.0", "../../OUTSIDE")])
    _serve_camels(server, monkeypatch, body, camels_like)
    with pytest.raises(DownloadError, match=r"'camels_attributes_v2.0' is a symbolic link to "
                                            r"'../../OUTSIDE'.*outside the data folder"):
        download_dataset("camels-us", tmp_path / "data", progress=False)
    data_dir = tmp_path / "data" / "camels_us"
    assert not (data_dir / "camels_attributes_v2.0").exists()
    assert not list(tmp_path.glob("OUTSIDE")) and not list(tmp_path.rglob("camels_clim.txt"))
    assert not list((tmp_path / "data" / "downloads").glob(".extract-*"))


def test_chained_links_and_hard_links_leaving_the_final_folder_are_rejected(
        tmp_path: Path) -> None:
    from ealstm.data.acquire.archives import check_links_confined

    # "self" -> . stays inside; "b" -> self/.. is d/.., one level above the data folder
    cases = {"chain": [link("a/b/c/d/self", "."), link("a/b/c/d/b", "self/..")],
             "hard": [("a/secret.txt", b"s"), link("a/b/c/d/copy.txt", "a/secret.txt",
                                                   tarfile.LNKTYPE)]}
    expected = {"chain": "'b' is a symbolic link", "hard": "'copy.txt' is a hard link"}
    for name, extra in cases.items():
        archive = tmp_path / f"{name}.tar.gz"
        archive.write_bytes(_camels_tar(extra))
        out = tmp_path / name
        extract_archive(archive, out)  # fine within the archive ...
        with pytest.raises(DownloadError, match=expected[name]):  # ... not within a/b/c/d
            check_links_confined(out / "a/b/c/d", out, archive)
    ok = tmp_path / "ok.tar.gz"
    ok.write_bytes(_camels_tar([link("a/b/c/d/alias", "usgs_streamflow/01"),
                                link("a/b/c/d/same.txt", "a/b/c/d/usgs_streamflow/01/y.txt",
                                     tarfile.LNKTYPE)]))
    extract_archive(ok, tmp_path / "ok")
    check_links_confined(tmp_path / "ok/a/b/c/d", tmp_path / "ok", ok)  # links inside: fine


def test_link_planted_by_an_earlier_archive_is_not_written_through(
        server: LocalServer, tmp_path: Path, camels_like: dict[str, bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(dl.SOURCES, "camels-us",
                        _serve_source(server, dl.SOURCES["camels-us"], camels_like))
    data_dir = download_dataset("camels-us", tmp_path / "data", progress=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(data_dir / "camels_attributes_v2.0")  # as if installed by an older version
    (data_dir / "camels_attributes_v2.0").symlink_to(elsewhere)
    (data_dir / dl.STATE_FILE).unlink()
    with pytest.raises(DownloadError, match="outside the data folder"):
        download_dataset("camels-us", tmp_path / "data", progress=False)
    assert list(elsewhere.iterdir()) == []
