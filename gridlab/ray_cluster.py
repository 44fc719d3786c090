"""Ray for gridlab's cluster work (sweeps, batch prediction): join a cluster by address or start a local Ray sized
to this machine, with Ray's token authentication handled (docs/sweeps.md, "Traps"). Ray is imported only inside."""
from __future__ import annotations

import os
from pathlib import Path

from . import quiet
from .errors import ConfigError


def prepare(address: str | None, progress=print) -> None:
    """Call before Ray is imported: when joining a cluster, turn token authentication on if a token is at hand."""
    chosen = token_auth() if address else None
    if chosen:
        progress(f"joining the Ray cluster at {address} with {chosen}")


def token_auth(environ=None) -> str | None:
    """Turn on Ray's token authentication for a driver joining a cluster, when a token is at hand and the user
    has not chosen: ``ray start --head`` enables it by default since Ray 2.59, and a driver that does not send the
    token is refused (``InvalidAuthToken``). Returns what was done, for one line of output, or None."""
    environ = os.environ if environ is None else environ
    if "RAY_AUTH_MODE" in environ:
        return None
    path = Path(environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if environ.get("RAY_AUTH_TOKEN") or path.is_file():
        environ["RAY_AUTH_MODE"] = "token"
        return f"RAY_AUTH_MODE=token (token from {'RAY_AUTH_TOKEN' if environ.get('RAY_AUTH_TOKEN') else path})"
    return None


def start(address: str | None, worker_logs: bool = False, env: dict | None = None) -> bool:
    """Join the cluster at ``address``, or start a local Ray sized to this machine; ``worker_logs`` shows what the
    workers print (training progress), ``env`` sets environment variables in every worker of this job. Returns
    whether gridlab started it (and so stops it)."""
    import ray

    # Under the command line's filter (gridlab.quiet) Ray says only errors, in this process and in the job's workers
    # and actors: its warnings here (token authentication on a local Ray, the state API a Ray without dashboard
    # lacks) are none a user of gridlab can act on. `gridlab --debug` shows them all.
    level = "ERROR" if quiet.filtering() else "WARNING"
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


