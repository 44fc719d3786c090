"""The search space of a sweep: parsed and checked against ``default.yaml`` before any trial starts.

A space maps config keys to one of:
- a list: a choice among its values (``batch: [64, 128, 256]``);
- ``uniform(a, b)``, ``loguniform(a, b)`` (0 < a), ``randint(a, b)`` (whole numbers a <= n < b), for number keys.
On the command line the same forms are written ``key=[a,b]`` and ``key=loguniform(1e-4,1e-2)``. A key typed as a
list (``image_size``) takes ``[a, b]`` as its value there; to sweep such a key, list the candidates in a space file.
"""
from __future__ import annotations

import dataclasses
import re

from ..config import SPECS, load_yaml
from ..errors import ConfigError, did_you_mean

_KINDS = r"(uniform|loguniform|randint)"
_RANGE = re.compile(rf"^\s*{_KINDS}\s*\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)\s*$")
_RANGE_START = re.compile(rf"^\s*{_KINDS}\s*\(")     # a range, well formed or not (parse_param words the error)
NOT_SWEPT = {"project", "name", "exist_ok", "resume", "verbose"} | {k for k in SPECS if k.startswith("sweep_")}


@dataclasses.dataclass(frozen=True)
class Param:
    """One swept key: ``kind`` is choice, uniform, loguniform or randint."""
    key: str
    kind: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        if self.kind == "choice":
            return "[" + ", ".join(str(v) for v in self.values) + "]"
        return f"{self.kind}({self.low}, {self.high})"


def _number(text: str, where: str):
    value = load_yaml(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, received {text!r}.")
    return value


def parse_param(key: str, spec, where: str) -> Param:
    """Check one entry of a space; ``where`` names the file or "command line" in the error."""
    from ..config import _check

    if key not in SPECS:
        raise ConfigError(f"{where}: unknown key {key!r} in the search space.{did_you_mean(key, SPECS)} "
                          "See `gridlab config` for every key.")
    if key in NOT_SWEPT:
        raise ConfigError(f"{where}: {key} cannot be swept (it names or steers the sweep itself).")
    types = SPECS[key].types
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: {key}: an empty choice; list at least one value, e.g. {key}: "
                              f"[{SPECS[key].default}].")
        values = tuple(_check(key, v, f"{where}: {key}") for v in spec)
        if key == "model":
            from ..models import check_model_name

            for v in values:
                check_model_name(v)
        choices = SPECS[key].choices
        for v in values:
            if choices and v not in choices:
                raise ConfigError(f"{where}: {key}: {v!r} is not one of {', '.join(choices)}."
                                  f"{did_you_mean(str(v), choices)}")
        return Param(key, "choice", values)
    match = _RANGE.match(str(spec)) if isinstance(spec, str) else None
    if not match:
        raise ConfigError(f"{where}: {key}: expected a list of values or uniform(a, b), loguniform(a, b), "
                          f"randint(a, b); received {spec!r}.")
    kind = match[1]
    low, high = _number(match[2], f"{where}: {key}"), _number(match[3], f"{where}: {key}")
    if kind == "randint" and "int" not in types:
        raise ConfigError(f"{where}: {key} expects {' or '.join(types)}, so randint() does not fit it.")
    if kind != "randint" and "float" not in types:
        raise ConfigError(f"{where}: {key} expects {' or '.join(types)}, so {kind}() does not fit it; "
                          f"list its values instead, e.g. {key}: [a, b].")
    if not low < high:
        raise ConfigError(f"{where}: {key}: {kind}({low}, {high}) needs the first bound below the second.")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}: {key}: loguniform needs bounds above 0, received {low}.")
    return Param(key, kind, low=low, high=high)


def parse_space(mapping: dict, where: str) -> dict[str, Param]:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping of key: values, received {type(mapping).__name__}.")
    return {k: parse_param(k, v, where) for k, v in mapping.items()}


def read_space(path) -> dict[str, Param]:
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: search space file not found. Pass an existing YAML file with sweep_space=FILE.")
    try:
        doc = load_yaml(path.read_text(encoding="utf-8")) or {}
    except Exception as exc:   # yaml errors
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}). Fix the file's syntax.") from None
    return parse_space(doc, str(path))


def split_items(items) -> tuple[list[str], dict]:
    """Split command-line ``key=...`` items into plain overrides and space entries (choices and ranges). ``[a,b]``
    is a choice unless the key's own type is a list."""
    plain, space = [], {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        text = raw.strip()
        spec = SPECS.get(key)
        listed = text.startswith("[") and text.endswith("]") and not (spec and "list" in spec.types)
        if sep and (listed or _RANGE_START.match(text)):
            space[key] = load_yaml(text) if listed else text
        else:
            plain.append(item)
    return plain, space


def check_search(space: dict[str, Param], search: str) -> None:
    if not space:
        raise ConfigError("the search space is empty: give swept keys such as lr=loguniform(1e-4,1e-2) or "
                          "batch=[64,128], or sweep_space=FILE.")
    if search == "grid":
        ranges = [p.key for p in space.values() if p.kind != "choice"]
        if ranges:
            raise ConfigError(f"sweep_search=grid needs lists of values; {', '.join(ranges)} is a range. List "
                              "its values or use sweep_search=optuna or random.")


def grid_size(space: dict[str, Param]) -> int:
    n = 1
    for p in space.values():
        n *= len(p.values)
    return n


def to_tune(space: dict[str, Param], search: str) -> dict:
    """The Ray Tune search space (``tune.choice`` ..., ``tune.grid_search`` for grids)."""
    from ray import tune

    out = {}
    for p in space.values():
        if p.kind == "choice":
            out[p.key] = tune.grid_search(list(p.values)) if search == "grid" else tune.choice(list(p.values))
        elif p.kind == "uniform":
            out[p.key] = tune.uniform(p.low, p.high)
        elif p.kind == "loguniform":
            out[p.key] = tune.loguniform(p.low, p.high)
        else:
            out[p.key] = tune.randint(int(p.low), int(p.high))
    return out


def dump_yaml(doc) -> str:
    """The sweep's YAML text (sweep.yaml, best.yaml, the page): block style, keys in their order."""
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


def as_yaml(space: dict[str, Param]) -> dict:
    return {p.key: list(p.values) if p.kind == "choice" else p.describe() for p in space.values()}
