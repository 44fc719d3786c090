"""Locating and downloading the named IDX sets, against a real HTTP server on loopback."""
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from gridlab.errors import DataFormatError, DataNotFoundError
from gridlab.sources import catalog
from gridlab.sources.catalog import FILES, IdxSet, load_idx_set, locate


class _Handler(http.server.SimpleHTTPRequestHandler):
    cut_after = None  # bytes: close the connection early to simulate a killed download

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.directory) / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: self.cut_after] if self.cut_after else data)


def _serve(folder):
    handler = type("H", (_Handler,), {})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder)))
    # shutdown() waits for the serving loop to look at its flag again: every 0.5 s by default, 0.01 s here
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    return httpd, handler


@pytest.fixture
def server(idx_dir):
    httpd, handler = _serve(idx_dir)
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler, idx_dir
    httpd.shutdown()


@pytest.fixture
def fake_set(server, monkeypatch):
    url, handler, folder = server
    sums = {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in FILES}
    entry = IdxSet("mnist", (url,), sums, tuple("abc"), ())
    monkeypatch.setitem(catalog.CATALOG, "mnist", entry)
    return entry, handler


def test_explicit_data_dir_is_used_first(idx_dir):
    assert locate("mnist", str(idx_dir)) == idx_dir
    x, y, xt, yt, names, folder = load_idx_set("mnist", str(idx_dir))
    assert x.shape == (30, 8, 8) and len(y) == 30 and xt.shape == (12, 8, 8) and folder == idx_dir


def test_gridlab_data_env(idx_dir, tmp_path, monkeypatch):
    (tmp_path / "env").mkdir()
    idx_dir.rename(tmp_path / "env" / "mnist")
    monkeypatch.setenv("GRIDLAB_DATA", str(tmp_path / "env"))
    assert locate("mnist") == tmp_path / "env" / "mnist"


def test_download_verifies_and_caches(fake_set):
    x, y, *_ = load_idx_set("mnist", progress=False)
    assert x.shape == (30, 8, 8)
    cached = catalog.cache_dir() / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(FILES)


def test_checksum_mismatch_keeps_nothing(fake_set, monkeypatch):
    entry, _ = fake_set
    bad = dict(entry.sha256, **{FILES[0]: "0" * 64})
    monkeypatch.setitem(catalog.CATALOG, "mnist", IdxSet("mnist", entry.urls, bad, entry.class_names, ()))
    with pytest.raises(DataFormatError, match="checksum mismatch: expected SHA-256 0000"):
        load_idx_set("mnist", progress=False)
    folder = catalog.cache_dir() / "mnist"
    assert not (folder / FILES[0]).exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_killed_download_leaves_no_final_file_and_next_run_recovers(fake_set):
    _, handler = fake_set
    handler.cut_after = 20
    with pytest.raises((DataNotFoundError, DataFormatError)):
        load_idx_set("mnist", progress=False)
    folder = catalog.cache_dir() / "mnist"
    assert not any((folder / f).exists() for f in FILES[:1])
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    handler.cut_after = None
    x, *_ = load_idx_set("mnist", progress=False)
    assert len(x) == 30


def test_corrupt_cached_file_is_removed_and_downloaded_again(fake_set):
    load_idx_set("mnist", progress=False)
    target = catalog.cache_dir() / "mnist" / FILES[0]
    target.write_bytes(b"<html>error page</html>")
    x, *_ = load_idx_set("mnist", progress=False)
    assert len(x) == 30 and target.read_bytes()[:2] == b"\x1f\x8b"


def test_offline_error_lists_every_option(monkeypatch, tmp_path):
    """The mirror answers 404 for every file (a real server on loopback, so nothing depends on how a closed port
    behaves on this machine): the error lists every other way to get the data."""
    (tmp_path / "empty").mkdir()
    httpd, _ = _serve(tmp_path / "empty")
    monkeypatch.setitem(catalog.CATALOG, "fashion-mnist", IdxSet(
        "fashion-mnist", (f"http://127.0.0.1:{httpd.server_address[1]}/",), {f: "0" * 64 for f in FILES},
        tuple("ab"), (), apt_package="dataset-fashion-mnist"))
    try:
        with pytest.raises(DataNotFoundError, match=r"not found .*data_dir=FOLDER.*GRIDLAB_DATA.*apt-get install "
                                                    r"dataset-fashion-mnist"):
            load_idx_set("fashion-mnist", progress=False)
    finally:
        httpd.shutdown()


def test_images_and_labels_count_mismatch(idx_dir):
    from gridlab.sources.idx import write_idx

    write_idx(idx_dir / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(DataFormatError, match="expected 30 labels to match the images file, received 29"):
        load_idx_set("mnist", str(idx_dir))
