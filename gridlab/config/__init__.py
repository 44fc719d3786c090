"""Configuration: ``default.yaml`` is the one list of keys; this module resolves and checks them.

Order of resolution: defaults < preset < YAML file < ``key=value`` overrides. Values are checked against the type
written in ``default.yaml``'s comment; unknown keys are rejected with the closest known key suggested.
"""
from __future__ import annotations

import dataclasses
import numbers
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..errors import ConfigError, did_you_mean, first_line

if TYPE_CHECKING:
    from .typed import ConfigView

DEFAULT_FILE = Path(__file__).with_name("default.yaml")
_LINE = re.compile(r"^(?P<key>[a-z_][a-z0-9_]*):\s*(?P<value>.*?)\s+#\s*\((?P<type>[a-z|]+)"
                   r"(?:,\s*(?P<range>[\[(][^,\])]*,[^,\])]*[\])]))?\)\s*(?P<help>.*)$")
_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "null": type(None)}


_CHOICE_LIST = re.compile(r"^((?:[a-z0-9_]+ \| )+[a-z0-9_]+)(?::\s|$)")


@dataclasses.dataclass(frozen=True)
class KeySpec:
    """One key of ``default.yaml``: its default, its types, its allowed values (when its help starts with
    ``a | b | c:``) and its help text."""

    name: str
    default: object
    types: tuple[str, ...]
    help: str
    choices: tuple[str, ...] = ()
    range: str = ""          # an interval such as "[1, inf)" or "(0, 1)", written after the type in default.yaml

    def out_of_range(self, value) -> str | None:
        """Why ``value`` is outside this key's range ("must be at least 1"), or None when it is inside (or the key
        has no range, or the value is null).

        >>> KeySpec("batch", 32, ("int",), "", range="[1, inf)").out_of_range(0)
        'must be at least 1'
        """
        if not self.range or value is None or isinstance(value, (bool, str, list)):
            return None
        low_open, high_open = self.range[0] == "(", self.range[-1] == ")"
        low, high = (float(v) for v in self.range[1:-1].split(","))
        inside = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if inside:
            return None
        if high == float("inf"):
            return f"must be {'over' if low_open else 'at least'} {low:g}"
        ends = {(True, True): "exclusive", (False, False): "inclusive", (False, True): f"{high:g} excluded",
                (True, False): f"{low:g} excluded"}[(low_open, high_open)]
        return f"must be between {low:g} and {high:g} ({ends})"


class _Loader(yaml.SafeLoader):
    """YAML with the booleans and floats of YAML 1.2: only true/false (any case) are booleans (YAML 1.1 also reads
    on/off/yes/no as booleans, which turns ``name=off`` into False), and ``1e-3`` is a float (PyYAML wants
    ``1.0e-3``)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in "tTfF":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")))
for _first in "+-0123456789":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).append(
        ("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$")))


def load_yaml(text: str):
    """Parse YAML text as gridlab reads every config file and ``key=value``: only true/false are booleans.

    >>> load_yaml("name: off\nverbose: false")
    {'name': 'off', 'verbose': False}
    """
    return yaml.load(text, Loader=_Loader)


def _read_specs() -> dict[str, KeySpec]:
    specs = {}
    for line in DEFAULT_FILE.read_text(encoding="utf-8").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        value = load_yaml(m["value"])
        listed = _CHOICE_LIST.match(m["help"])
        choices = tuple(listed[1].split(" | ")) if listed else ()
        specs[m["key"]] = KeySpec(m["key"], value, tuple(m["type"].split("|")), m["help"], choices,
                                  m["range"] or "")
    return specs


SPECS: dict[str, KeySpec] = _read_specs()

Config = dataclasses.make_dataclass(
    "Config", [(k, object) for k in SPECS], frozen=True,
    namespace={"__doc__": "Resolved, checked configuration of one run (keys: see config/default.yaml).",
               "to_dict": lambda self: dataclasses.asdict(self),
               "replace": lambda self, **kw: dataclasses.replace(self, **kw)},
)


def _check(key: str, value, origin: str):
    spec = SPECS.get(key)
    if spec is None:
        raise ConfigError(f"{origin}: unknown key {key!r}.{did_you_mean(key, SPECS)} "
                          f"See `gridlab config` for every key.")
    if isinstance(value, float) and "int" in spec.types and "float" not in spec.types and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and "float" in spec.types:
        value = float(value)
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, os.PathLike) and "str" in spec.types:      # a pathlib.Path from Python: its text
        value = os.fspath(value)
    ok = any(isinstance(value, _TYPES[t]) and not (t in ("int", "float") and isinstance(value, bool))
             for t in spec.types)
    if not ok:
        raise ConfigError(f"{origin}: {key} expects {' or '.join(spec.types)}, received {value!r} "
                          f"({type(value).__name__}). Example: {key}={_show(spec.default)}")
    return value


def _show(value) -> str:
    if value is None:
        return "null"
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def parse_overrides(items) -> dict:
    """Turn ``["epochs=3", "lr=0.01"]`` into ``{"epochs": 3, "lr": 0.01}`` (values parsed as YAML). A key typed
    as a string takes the text as typed when YAML would read it as a number (``name=2024``, ``threshold=0.5``).

    >>> parse_overrides(["epochs=3", "name=a", "name=2024"])
    {'epochs': 3, 'name': '2024'}
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"argument {item!r}: expected key=value, received no '='. Example: epochs=5")
        key, _, raw = item.partition("=")
        key = key.strip()
        try:
            value = load_yaml(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        spec = SPECS.get(key)
        if spec and "str" in spec.types and isinstance(value, (bool, int, float)) and not any(
                t in spec.types for t in ("bool", "int", "float")):
            value = raw.strip()
        out[key] = value
    return out


def load_config(overrides: dict | None = None, cfg_file: str | None = None) -> "ConfigView":
    """Resolve defaults, preset, an optional YAML file and overrides into a checked, frozen ``Config``.

    >>> load_config({"epochs": 3}).epochs
    3
    """
    from .presets import preset_values

    overrides = dict(overrides or {})
    cfg_file = overrides.pop("cfg", cfg_file)
    from_file = {}
    if cfg_file:
        if not Path(cfg_file).is_file():
            raise ConfigError(f"{cfg_file}: config file not found. Pass an existing YAML file with cfg=FILE.")
        from_file = _read_mapping(Path(cfg_file))
    values = {k: s.default for k, s in SPECS.items()}
    checked_file = {k: _check(k, v, str(cfg_file)) for k, v in from_file.items()}
    checked_over = {k: _check(k, v, "command line") for k, v in overrides.items()}
    preset = checked_over.get("preset", checked_file.get("preset", values["preset"]))
    values.update(preset_values(preset))
    values.update(data_card(checked_over.get("data", checked_file.get("data", values["data"]))))
    values.update(checked_file)
    values.update(checked_over)
    config = Config(**values)
    _validate(config)
    return config


def _read_mapping(path: Path) -> dict:
    """A YAML file of ``key: value`` lines, or a ConfigError naming the file."""
    try:
        doc = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({first_line(exc)}). Fix the file's syntax.") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value, received {type(doc).__name__}.")
    return doc


DATA_CARD = "gridlab-data.yaml"
DATA_CARD_KEYS = ({"source", "scaling", "color", "image_size", "on_bad_file"}
                  | {k for k in SPECS if k.startswith("grid_")})


def data_card(data) -> dict:
    """Reading rules a data folder carries in ``gridlab-data.yaml`` (applied after presets, before the user's
    own file and overrides). Only data-reading keys are allowed there."""
    folder = Path(str(data))
    path = (folder if folder.is_dir() else folder.parent) / DATA_CARD
    if str(data) == "auto" or not path.is_file() or not (folder.is_dir() or folder.suffix == ".csv"):
        return {}
    card = _read_mapping(path)
    for key in card:
        if key not in DATA_CARD_KEYS:
            raise ConfigError(f"{path}: {key!r} cannot be set by a data folder; allowed: "
                              f"{', '.join(sorted(DATA_CARD_KEYS))}.{did_you_mean(key, DATA_CARD_KEYS)}")
    return {k: _check(k, v, str(path)) for k, v in card.items()}


def _validate(c) -> None:
    for key, choices in ((k, spec.choices) for k, spec in SPECS.items() if spec.choices):
        value = getattr(c, key)
        if value not in choices:
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(choices)}.{did_you_mean(value, choices)}")
    for key, spec in SPECS.items():        # the ranges default.yaml declares beside each key
        problem = spec.out_of_range(getattr(c, key))
        if problem:
            raise ConfigError(f"{key} {problem}, received {getattr(c, key)}.")
    for key in ("image_size", "grid_rows", "grid_cols", "grid_shape"):
        value = getattr(c, key)
        if value is not None and (len(value) != 2 or not all(isinstance(v, int) and v >= 0 for v in value)):
            raise ConfigError(f"{key} expects two whole numbers like [110, 120], received {value!r}.")
    if c.name is not None and (c.name in (".", "..") or any(ch in c.name for ch in "/\\")):
        raise ConfigError(f"name={c.name!r}: expected one folder name (no / or \\, not . or ..): the run's folder "
                          f"inside project={c.project}. Choose where runs go with project=.")
    if c.max_time is not None:
        parse_duration(c.max_time)
    parse_threshold(c.threshold)
    if c.tta and not c.augment:
        raise ConfigError("tta=true averages predictions over mirror images, which needs a model trained on them: "
                          "set augment=true as well (or tta=false).")


def check_count(name: str, value, least: int = 1, fix: str = "") -> int:
    """``value`` when it is a whole number of at least ``least``, else a ``ConfigError`` naming ``name`` (a
    command's flag or a function's argument, such as ``top_k`` or ``chunk``: counts that are not configuration keys,
    checked before anything is written), ending with ``fix`` when given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ConfigError(f"{name} expects a whole number of at least {least}, received {value!r}."
                          + (f" {fix}" if fix else ""))
    return int(value)


def parse_duration(text) -> float:
    """Seconds in ``'90'``, ``'90s'``, ``'5m'`` or ``'1h'``.

    >>> parse_duration("5m")
    300.0
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not m:
        raise ConfigError(f"max_time expects a duration such as 60s, 5m or 1h, received {text!r}.")
    return float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[m[2]]


def parse_threshold(text) -> tuple[str, float | None]:
    """Split the ``threshold`` rule into (kind, value): ``('f1', None)``, ``('recall', 0.95)``, ``('fixed', 0.5)``."""
    text = str(text).strip()
    if text == "f1":
        return "f1", None
    kind, _, number = text.partition(":")
    try:
        if kind in ("recall", "precision") and number:
            value = float(number)
            if 0 < value <= 1:
                return kind, value
        elif not number:
            value = float(kind)
            if 0 < value < 1:
                return "fixed", value
    except ValueError:
        pass
    raise ConfigError(f"threshold expects f1, recall:R, precision:P or a number between 0 and 1, received {text!r}. "
                      "Example: threshold=recall:0.95")


def save_config(config, path) -> None:
    """Write the resolved config as YAML (atomically)."""
    from ..files import write_text

    write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def typed_view_source() -> str:
    """The text of ``config/typed.py``: a ``Protocol`` with every key and its type, for editors and type checkers
    (``load_config`` returns an object of this shape). Regenerate with ``python -m gridlab.config``."""
    names = {"str": "str", "int": "int", "float": "float", "bool": "bool", "list": "list", "null": "None"}
    lines = ['"""Every configuration key with its type, generated from default.yaml by',
             '`python -m gridlab.config` (a test checks it is current). For editors and type checkers: the',
             'resolved config (``load_config``) has this shape."""',
             "from __future__ import annotations", "", "from typing import Literal, Protocol", "", "",
             "class ConfigView(Protocol):"]
    for spec in SPECS.values():
        if spec.choices:
            kind = "Literal[" + ", ".join(repr(c) for c in spec.choices) + "]"
        else:
            kind = " | ".join(names[t] for t in spec.types)
        lines.append(f"    {spec.name}: {kind}")
    return "\n".join(lines) + "\n"


def describe_keys() -> str:
    """A table of every key, its default and meaning, for ``gridlab config``."""
    rows = [f"{s.name:<16} {_show(s.default):<12} ({'|'.join(s.types)}{', ' + s.range if s.range else ''}) {s.help}"
            for s in SPECS.values()]
    return "\n".join(rows)
