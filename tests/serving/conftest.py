"""A real server: ``python -m gridlab serve`` in a subprocess on a free loopback port, for a tiny trained run."""
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port


@pytest.fixture(scope="session")
def served_run(tmp_path_factory):
    """A finished 3-class 28x28 run with its ONNX export, shared by the serving tests."""
    import gridlab
    from gridlab.export import export
    from tests.conftest import write_idx_set

    root = tmp_path_factory.mktemp("served")
    write_idx_set(root / "idx", per_class=40, size=28, test_per_class=10)
    run = gridlab.train(data="mnist", data_dir=str(root / "idx"), model="seed001_cnn", epochs=3, batch=16,
                        project=str(root / "runs"), name="served", verbose=False, report=False)
    export(run.folder, "onnx")
    return run.folder


class Server:
    def __init__(self, run: Path, *overrides: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.log = open(run.parent / f"server-{self.port}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "gridlab", "serve", str(run), "--port", str(self.port),
                                      *overrides], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(run.parent / f'server-{self.port}.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start in time")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def server(served_run):
    s = Server(served_run, "serve_max_pixels=10000", "serve_max_upload_bytes=200000", "serve_max_fields=400")
    yield s
    s.stop()
