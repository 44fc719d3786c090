"""Ray for gridlab's cluster work (sweeps, batch prediction): join a cluster by address or start a local Ray sized
to this machine, with Ray's token authentication handled (docs/sweeps.md, "Traps"). Ray is imported only inside."""
from __future__ import annotations

import os
from pathlib import Path

from . import backend, quiet
from .errors import ConfigError


def prepare(address: str | None, progress=print) -> None:
    """Call before Ray is imported: when joining a cluster, turn token authentication on if the cluster wants it."""
    chosen = token_auth(address) if address else None
    if chosen:
        progress(f"joining the Ray cluster at {address} with {chosen}")


def token_auth(address: str, environ=None) -> str | None:
    """Turn on Ray's token authentication for a driver joining the cluster at ``address`` when that cluster wants a
    token and the user has not chosen (``RAY_AUTH_MODE``). Returns what was done, for one line of output, or None.

    The cluster is asked, not guessed: ``ray start --head`` turns authentication on only when a token already exists
    (Ray 2.59+), so a token on this machine may be younger than the cluster (a local ``ray.init()`` writes one). A
    driver in token mode joins such a cluster, and then refuses the cluster's own calls ("Missing authorization
    header"): its actors die before they start. A driver without the token is refused by a cluster that wants one,
    after about 20 s of retries. Raises ``ConfigError`` at once where the cluster wants a token that is not at hand."""
    environ = os.environ if environ is None else environ
    if "RAY_AUTH_MODE" in environ or _answers(address) is not False:
        return None          # the user chose; or the cluster needs no token; or no plain answer: Ray says why
    token, source = _token_at_hand(environ)
    fix = "copy the head's ~/.ray/auth_token to this machine or set RAY_AUTH_TOKEN to it"
    if token is None:
        raise ConfigError(f"{address}: the Ray cluster there wants a token (token authentication) and none is at "
                          f"hand: {fix}.")
    if not _answers(address, token):
        raise ConfigError(f"{address}: the Ray cluster there refuses the token from {source}: {fix}.")
    environ["RAY_AUTH_MODE"] = "token"
    return f"RAY_AUTH_MODE=token (token from {source})"


def _token_at_hand(environ) -> tuple[str | None, str]:
    """The token Ray itself would send, and where it comes from (Ray's order: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH,
    ~/.ray/auth_token)."""
    if environ.get("RAY_AUTH_TOKEN"):
        return environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    path = Path(environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    try:
        return path.read_text().strip() or None, str(path)
    except OSError:
        return None, str(path)


def _answers(address: str, token: str | None = None) -> bool | None:
    """Whether the cluster at ``address`` (HOST:PORT of its GCS) answers a request that carries ``token`` (None: no
    token): True, False where it refuses it for want of the right token, None where nothing answers plainly (no
    cluster there, TLS, another form of address): Ray's own connection then says why."""
    import grpc  # gRPC for Python (the ray extra names it)

    metadata = (("authorization", f"Bearer {token}"),) if token else None
    with grpc.insecure_channel(address) as channel:
        try:
            channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId")(b"", timeout=5, metadata=metadata)
        except grpc.RpcError as exc:
            return False if exc.code() == grpc.StatusCode.UNAUTHENTICATED else None
        except ValueError:    # not an address gRPC can dial
            return None
    return True


def start(address: str | None, worker_logs: bool = False, env: dict | None = None) -> bool:
    """Join the cluster at ``address``, or start a local Ray sized to this machine; ``worker_logs`` shows what the
    workers print (training progress), ``env`` sets environment variables in every worker of this job. Returns
    whether gridlab started it (and so stops it)."""
    import ray

    # Under the command line's filter (gridlab.quiet) Ray says only errors, in this process and in the job's workers
    # and actors: its warnings here (token authentication on a local Ray, the state API a Ray without dashboard
    # lacks) are none a user of gridlab can act on. `gridlab --debug` shows them all.
    level = "ERROR" if quiet.filtering() else "WARNING"
    if backend.lean_imports():       # the job's workers are gridlab's own too, also on a cluster started elsewhere
        env = {backend.LEAN_VAR: "1", **(env or {})}
    options = {"logging_level": level, "log_to_driver": worker_logs, "configure_logging": True,
               "logging_config": ray.LoggingConfig(log_level=level),
               **({"runtime_env": {"env_vars": env}} if env else {})}
    if not address:
        # address="local": a Ray of our own even when a `ray start` cluster runs on this machine (ray.init() would
        # join that one, and refuse num_cpus for it)
        ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, **options)
        return True
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"{address}: cannot join the Ray cluster there ({str(exc).splitlines()[0]})"
                          ". Start it with `ray start --head` and give its HOST:PORT; a cluster with token "
                          "authentication needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or "
                          "~/.ray/auth_token on this machine).") from None
    return False


