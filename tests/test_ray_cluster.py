"""gridlab.ray_cluster: a driver joining a cluster by address sends Ray's token exactly when that cluster wants one."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gridlab import backend, ray_cluster
from gridlab.errors import ConfigError
from tests.conftest import RAY_ENV, free_port

pytest.importorskip("ray", reason="Ray is not installed (pip install 'gridlab[ray]')")

# a driver that joins by address and runs an actor there: the cluster calls back into its driver (the actor's owner).
# The actor also says whether gridlab's lean Keras import reached it (a `ray start` node's workers do not inherit the
# driver's environment: ray_cluster.start passes it)
DRIVER = """
import os, sys
from gridlab import backend, ray_cluster
ray_cluster.prepare(sys.argv[1], progress=lambda line: print(line, file=sys.stderr))
ray_cluster.start(sys.argv[1])
import ray

@ray.remote(num_cpus=1)
class Echo:
    def echo(self, value):
        return value, os.environ.get(backend.LEAN_VAR)

print(*ray.get(Echo.remote().echo.remote(7), timeout=120))
"""


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_a_token_at_hand_is_not_sent_to_a_cluster_that_wants_none(ray_head_without_auth, tmp_path):
    """The defect: a token on this machine younger than the cluster (a local Ray writes one) turned token mode on in
    the driver; it then refused the cluster's calls, and its actors died before they started."""
    token = tmp_path / "auth_token"
    token.write_text("0123456789abcdef0123456789abcdef\n")
    env = {"RAY_AUTH_TOKEN_PATH": str(token)}
    assert ray_cluster.token_auth(ray_head_without_auth, environ=env) is None
    assert "RAY_AUTH_MODE" not in env
    lean = {backend.LEAN_VAR: "1"}                  # as under gridlab's command line
    out = subprocess.run([sys.executable, "-c", DRIVER, ray_head_without_auth], env={**RAY_ENV, **env, **lean},
                         capture_output=True, text=True, timeout=300)
    assert (out.returncode, out.stdout.strip()) == (0, "7 1"), out.stderr[-3000:]
    assert "RAY_AUTH_MODE" not in out.stderr


@pytest.mark.xdist_group("ray")
def test_a_cluster_that_wants_a_token_gets_the_one_at_hand_or_a_one_line_error(ray_head, tmp_path):
    env: dict = {}         # the token `ray start` read: ~/.ray/auth_token (RayHead)
    assert ray_cluster.token_auth(ray_head, environ=env).startswith("RAY_AUTH_MODE=token (token from ")
    assert env["RAY_AUTH_MODE"] == "token"
    with pytest.raises(ConfigError, match=r"^127\.0\.0\.1:\d+: the Ray cluster there refuses the token from "
                                          r"RAY_AUTH_TOKEN: copy the head's ~/\.ray/auth_token"):
        ray_cluster.token_auth(ray_head, environ={"RAY_AUTH_TOKEN": "0123456789abcdef0123456789abcdef"})
    missing = tmp_path / "no_token"
    with pytest.raises(ConfigError, match=r"wants a token \(token authentication\) and none is at hand: copy"):
        ray_cluster.token_auth(ray_head, environ={"RAY_AUTH_TOKEN_PATH": str(missing)})
    chosen = {"RAY_AUTH_MODE": "disabled"}      # the user's choice stands, whatever the cluster wants
    assert ray_cluster.token_auth(ray_head, environ=chosen) is None and chosen == {"RAY_AUTH_MODE": "disabled"}


def test_where_nothing_answers_ray_says_why():
    env = {"RAY_AUTH_TOKEN": "0123456789abcdef0123456789abcdef"}
    assert ray_cluster.token_auth(f"127.0.0.1:{free_port()}", environ=env) is None
    assert ray_cluster.token_auth("auto", environ=env) is None
    assert "RAY_AUTH_MODE" not in env
