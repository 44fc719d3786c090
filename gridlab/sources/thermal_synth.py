"""A synthetic thermal-camera data set in seed 004's on-disk layout, for tests and demos. It is not real data.

Layout: ``OUT/<class>/<day>/<frame>.txt`` with classes ``face`` and ``not_face``, days 20201201-20201219. Each file:
3 header lines, 8 black-body reference rows, 110 rows of 124 temperatures in °C (the reader keeps 120), and a
trailing single value, so the seed's rules apply: skip the header and black-body rows, drop rows with fewer than 100
values, keep 120 values per row. ``OUT/gridlab-data.yaml`` records those reading rules.

Faces: warm (34-37 °C, cooler when far away) head-and-neck blobs at varied positions, scales and tilts, with cooler
hair and sometimes eyeglasses, sometimes partly out of frame. Not-faces: hands, hot cups, warm round objects of
head size, backs of heads, warm patches; backgrounds at 18-28 °C with gradients, sensor noise and drift.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

ROWS, COLS, SENSOR_COLS = 110, 120, 124
HEADER_ROWS, BLACKBODY_ROWS = 3, 8
DATA_CARD = {"source": "sensor_grid", "grid_skip_rows": HEADER_ROWS + BLACKBODY_ROWS, "grid_min_values": 100,
             "grid_cols": [0, COLS], "grid_shape": [ROWS, COLS], "grid_glob": "*.txt"}
_YY, _XX = np.mgrid[0:ROWS, 0:SENSOR_COLS].astype(np.float32)


def _ellipse(cx, cy, ax, ay, theta=0.0, soft=1.5):
    """Soft mask (0..1) of a rotated ellipse."""
    c, s = np.cos(theta), np.sin(theta)
    dx, dy = _XX - cx, _YY - cy
    u, v = (c * dx + s * dy) / ax, (-s * dx + c * dy) / ay
    r = np.sqrt(u * u + v * v)
    return 1.0 / (1.0 + np.exp((r - 1.0) * min(ax, ay) / soft))


def _background(rng):
    base = rng.uniform(18.0, 28.0)
    t = base + rng.uniform(-1.5, 1.5) * (_YY / ROWS) + rng.uniform(-1.5, 1.5) * (_XX / SENSOR_COLS)
    for _ in range(rng.integers(0, 4)):
        t += rng.uniform(-1.0, 1.5) * _ellipse(rng.uniform(0, SENSOR_COLS), rng.uniform(0, ROWS),
                                               rng.uniform(8, 30), rng.uniform(8, 30), soft=8)
    return t, base


def _head(rng, t, bg, warm, hair_share, cx=None, cy=None, scale=None):
    scale = scale or rng.uniform(0.55, 1.3)
    cx = rng.uniform(10, SENSOR_COLS - 10) if cx is None else cx
    cy = rng.uniform(25, 75) if cy is None else cy
    theta = rng.normal(0, 0.25)
    ax, ay = 20 * scale, 26 * scale
    head = _ellipse(cx, cy, ax, ay, theta)
    neck = _ellipse(cx + np.sin(theta) * ay, cy + ay * 1.05, ax * 0.45, ay * 0.55, theta)
    t += (warm - t) * np.maximum(head, neck * 0.9)
    hair = _ellipse(cx - np.sin(theta) * ay * 0.55, cy - ay * 0.55, ax * 1.02, ay * hair_share, theta)
    t += (rng.uniform(28.0, 31.0) - t) * hair * head * rng.uniform(0.6, 1.0)
    return cx, cy, ax, ay, theta


def face(rng):
    t, bg = _background(rng)
    scale = rng.uniform(0.55, 1.3)
    warm = rng.uniform(34.0, 37.0) - (1.3 - scale) * 2.0
    cx, cy, ax, ay, theta = _head(rng, t, bg, warm, rng.uniform(0.2, 0.6), scale=scale)
    eye_y = cy - ay * 0.05
    if rng.random() < 0.3:  # eyeglasses block infrared: two cooler discs
        for side in (-1, 1):
            t += (bg + rng.uniform(3, 6) - t) * _ellipse(cx + side * ax * 0.42, eye_y, ax * 0.25, ax * 0.2)
    else:  # inner eye corners are the warmest spots
        for side in (-1, 1):
            t += 0.8 * _ellipse(cx + side * ax * 0.2, eye_y, ax * 0.12, ax * 0.1)
    t -= rng.uniform(0.5, 1.5) * _ellipse(cx, cy + ay * 0.2, ax * 0.12, ay * 0.12)  # nose tip
    return t


def not_face(rng):
    t, bg = _background(rng)
    kind = rng.choice(["hand", "cup", "round", "back_of_head", "patches"], p=[0.25, 0.2, 0.25, 0.15, 0.15])
    if kind == "hand":
        cx, cy, s = rng.uniform(20, 100), rng.uniform(30, 80), rng.uniform(0.7, 1.4)
        warm = rng.uniform(31.0, 34.5)
        palm = _ellipse(cx, cy, 14 * s, 16 * s, rng.normal(0, 0.4))
        fingers = sum(_ellipse(cx + (k - 1.5) * 7 * s, cy - 22 * s - abs(k - 1.5) * 2, 2.8 * s, 10 * s)
                      for k in range(4))
        t += (warm - t) * np.clip(palm + fingers, 0, 1)
    elif kind == "cup":
        cx, cy, s = rng.uniform(20, 100), rng.uniform(30, 80), rng.uniform(0.6, 1.3)
        body = (np.abs(_XX - cx) < 10 * s) & (np.abs(_YY - cy) < 14 * s)
        t[body] = rng.uniform(35.0, 45.0)
        t += (rng.uniform(45.0, 60.0) - t) * _ellipse(cx, cy - 14 * s, 10 * s, 3 * s)
    elif kind == "round":  # a warm head-sized object (a heated pillow, a pet, a lamp shade)
        s = rng.uniform(0.55, 1.3)
        t += (rng.uniform(31.0, 36.0) - t) * _ellipse(rng.uniform(15, 105), rng.uniform(25, 80), 20 * s * rng.uniform(
            0.8, 1.2), 24 * s * rng.uniform(0.8, 1.2), rng.normal(0, 0.4))
    elif kind == "back_of_head":  # mostly hair: a cool oval on a warm neck
        _head(rng, t, bg, rng.uniform(33.0, 35.5), rng.uniform(1.0, 1.3))
    else:
        for _ in range(rng.integers(2, 6)):
            t += rng.uniform(2, 8) * _ellipse(rng.uniform(0, SENSOR_COLS), rng.uniform(0, ROWS),
                                              rng.uniform(4, 15), rng.uniform(4, 15), soft=3)
    return t


def frame_text(rng, make) -> str:
    drift = rng.normal(0, 0.6)
    t = make(rng) + drift + rng.normal(0, 0.15, (ROWS, SENSOR_COLS))
    blackbody = 35.0 + rng.normal(0, 0.05, (BLACKBODY_ROWS, SENSOR_COLS)) + drift
    header = ("# gridlab synthetic thermal frame - generated, not real data\n"
              f"camera SIM-{SENSOR_COLS}x{ROWS} emissivity 0.98 ambient {rng.uniform(18, 28):.2f}\n"
              f"frame {rng.integers(0, 10**6):06d}\n")
    row = " ".join(["%.2f"] * SENSOR_COLS) + "\n"
    body = (row * (BLACKBODY_ROWS + ROWS)) % tuple(np.round(np.vstack([blackbody, t]), 2).ravel().tolist())
    return header + body + f"{35.0 + drift:.2f}\n"


def _write_part(args):
    out, jobs = args
    for path, cls, seed in jobs:
        rng = np.random.default_rng(seed)
        text = frame_text(rng, face if cls == "face" else not_face)
        target = Path(out) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(".tmp-" + target.name)
        tmp.write_text(text)
        tmp.replace(target)
    return len(jobs)


def make_thermal(out: str | Path, faces: int = 6697, not_faces: int = 392, seed: int = 0, workers: int = 2,
                 progress: bool = True) -> Path:
    """Write the synthetic set (deterministic for ``seed``) and its ``gridlab-data.yaml``; returns ``out``."""
    import sys

    import yaml

    from ..config import check_count
    from ..errors import ConfigError
    from ..files import write_text

    faces, not_faces, workers = check_count("faces", faces), check_count("not_faces", not_faces), check_count(
        "workers", workers)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: a file is there; make-thermal writes a folder. Choose a new folder for it.")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: the folder exists and is not empty. Choose a new folder for make-thermal.")
    days = [f"202012{d:02d}" for d in range(1, 20)]
    seeds = np.random.SeedSequence(seed).generate_state(faces + not_faces)
    jobs = [(f"{cls}/{days[i % len(days)]}/f{i:06d}.txt", cls, int(seeds[k]))
            for k, (i, cls) in enumerate([(i, "face") for i in range(faces)] +
                                         [(i, "not_face") for i in range(not_faces)])]
    chunk = max(50, len(jobs) // 40)
    parts = [(str(out), jobs[i:i + chunk]) for i in range(0, len(jobs), chunk)]
    done = 0
    if workers > 1 and len(parts) > 1:
        from ..pools import process_pool

        with process_pool(workers, f"writing {len(jobs):,} synthetic frames in {workers} processes") as p:
            for n in p.map(_write_part, parts):
                done += n
                if progress:
                    print(f"\r  {done:,}/{len(jobs):,} frames written", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
    else:
        for part in parts:
            _write_part(part)
    write_text(out / "gridlab-data.yaml",
               "# Reading rules for this data set (keys of gridlab's default.yaml). Written by make-thermal.\n"
               "# Synthetic thermal frames: generated by gridlab, not real data.\n" + yaml.safe_dump(DATA_CARD))
    if progress:
        print(f"wrote {faces:,} face and {not_faces:,} not_face frames ({ROWS}x{COLS} °C, synthetic) to {out}",
              file=sys.stderr)
    return out
