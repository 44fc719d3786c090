"""Out-of-distribution (OOD) scores: "this input is not like anything the model was trained on".

Every score is higher-is-more-in-distribution, computed from the model's penultimate features ``h`` (the input of
its final ``Dense(softmax)``) and its logits ``z = h W + b`` (the calibrated ones: the temperature is folded into
``W`` and ``b``):

- ``msp``: the maximum softmax probability (Hendrycks and Gimpel 2017), the baseline;
- ``energy``: ``logsumexp(z)``, the negative free energy (Liu et al. 2020);
- ``mahalanobis``: minus the smallest Mahalanobis distance of ``h`` to a class mean, with one covariance shared by
  the classes (Lee et al. 2018);
- ``knn``: minus the distance of the L2-normalised ``h`` to its k-th nearest training example (Sun et al. 2022).

``fit`` estimates what a method needs on the training split and sets the threshold on the validation split so that
``pass_rate`` of it passes (95% by default); ``Detector.flag`` marks a score below the threshold. A test-time-view
model is scored on its unmoved view (its ``body``), as saliency explains it. The fitted arrays travel in the run
folder (``runs.write_ood``), so every path that predicts (files, the server, streaming) scores the same way.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..config import SPECS
from ..errors import ConfigError

METHODS = tuple(c for c in SPECS["ood"].choices if c not in ("auto", "none"))
DEFAULT = "mahalanobis"      # what `auto` means: the best across the probe sets in docs/benchmarks.md ("ood")
KNN_K = 10                   # the k-th neighbour, in a bank of at most KNN_BANK training examples
KNN_BANK = 10_000
FIT_MAX = 20_000             # training examples the statistics are estimated from (a stratified-enough sample)


@dataclasses.dataclass
class Detector:
    """A fitted OOD score: ``method``, its ``threshold`` (scores below it are flagged), the output layer's ``w``,
    ``b``, and the method's statistics (class ``means`` and ``precision`` matrix, or the normalised ``bank``)."""

    method: str
    threshold: float
    pass_rate: float
    w: np.ndarray
    b: np.ndarray
    means: np.ndarray | None = None
    precision: np.ndarray | None = None
    bank: np.ndarray | None = None

    def logits(self, h: np.ndarray) -> np.ndarray:
        return np.asarray(h, np.float64) @ self.w + self.b

    def score(self, h: np.ndarray) -> np.ndarray:
        """The score of each row of penultimate features ``h`` (N, D): higher = more like the training data."""
        h = np.asarray(h, np.float64)
        if self.method in ("msp", "energy"):
            z = self.logits(h)
            top = z.max(axis=1, keepdims=True)
            lse = (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]
            return np.exp(top[:, 0] - lse) if self.method == "msp" else lse
        if self.method == "mahalanobis":
            best = np.full(len(h), np.inf)
            for mean in self.means:
                d = h - mean
                best = np.minimum(best, np.einsum("ij,jk,ik->i", d, self.precision, d))
            return -best
        unit = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
        out = np.empty(len(h))
        for lo in range(0, len(h), 512):               # distances a chunk at a time: memory stays bounded
            sim = unit[lo:lo + 512] @ self.bank.T
            kth = -np.partition(-sim, KNN_K - 1, axis=1)[:, KNN_K - 1]
            out[lo:lo + 512] = -np.sqrt(np.maximum(2.0 - 2.0 * kth, 0.0))
        return out

    def flag(self, scores: np.ndarray) -> np.ndarray:
        """True where a score is below the threshold: not like the training data."""
        return np.asarray(scores) < self.threshold

    def arrays(self) -> dict:
        """What ``runs.write_ood`` stores."""
        out = {"method": np.asarray(self.method), "threshold": np.asarray(self.threshold),
               "pass_rate": np.asarray(self.pass_rate), "w": self.w, "b": self.b}
        for key in ("means", "precision", "bank"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict) -> "Detector":
        return cls(str(arrays["method"]), float(arrays["threshold"]), float(arrays["pass_rate"]), arrays["w"],
                   arrays["b"], arrays.get("means"), arrays.get("precision"), arrays.get("bank"))


def resolve(method: str) -> str | None:
    """``auto`` -> ``DEFAULT``, ``none`` -> None, others unchanged (checked against default.yaml's choices)."""
    if method == "none":
        return None
    if method == "auto":
        return DEFAULT
    if method not in METHODS:
        raise ConfigError(f"ood={method!r} is not one of {', '.join(SPECS['ood'].choices)}.")
    return method


def fit(method: str, h_train: np.ndarray, y_train: np.ndarray, h_val: np.ndarray, w: np.ndarray, b: np.ndarray,
        pass_rate: float = 0.95, seed: int = 0) -> Detector:
    """A ``Detector`` for ``method`` from training features and labels, its threshold chosen on the validation
    features so that ``pass_rate`` of them pass."""
    rng = np.random.default_rng(seed)
    if len(h_train) > FIT_MAX:
        keep = rng.choice(len(h_train), FIT_MAX, replace=False)
        h_train, y_train = h_train[keep], y_train[keep]
    h_train = np.asarray(h_train, np.float64)
    det = Detector(method, 0.0, pass_rate, np.asarray(w, np.float64), np.asarray(b, np.float64))
    if method == "mahalanobis":
        classes = np.unique(y_train)
        det.means = np.stack([h_train[y_train == c].mean(axis=0) for c in classes])
        centred = h_train - det.means[np.searchsorted(classes, y_train)]
        cov = centred.T @ centred / max(len(h_train) - 1, 1)
        det.precision = np.linalg.pinv(cov + 1e-6 * np.trace(cov) / len(cov) * np.eye(len(cov)))
    elif method == "knn":
        bank = h_train[rng.choice(len(h_train), min(KNN_BANK, len(h_train)), replace=False)]
        det.bank = bank / np.maximum(np.linalg.norm(bank, axis=1, keepdims=True), 1e-12)
    det.threshold = float(np.quantile(det.score(h_val), 1.0 - pass_rate))
    return det


def feature_model(model):
    """A Keras model from the saved model's input to ``(probabilities, penultimate features)`` in one pass, and the
    output layer (whose weights give the logits)."""
    import keras

    from ..models.temperature import FLIP_LAYER, output_layer

    last = output_layer(model)
    if FLIP_LAYER in {layer.name for layer in model.layers}:
        body = model.get_layer("body")
        inner = keras.Model(body.inputs, body.layers[-1].input)
        features = inner(model.get_layer("as_float").output)        # the unmoved view
    else:
        features = last.input
    return keras.Model(model.inputs, [model.outputs[0], features]), last


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """The probability that an in-distribution score is higher than an OOD one (ties count half)."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(inside)), np.zeros(len(outside))]
    return float(roc_auc_score(y, np.r_[inside, outside]))


def fpr_at_tpr(inside: np.ndarray, outside: np.ndarray, tpr: float = 0.95) -> float:
    """The share of OOD examples that pass at the threshold where ``tpr`` of the in-distribution ones pass."""
    threshold = np.quantile(inside, 1.0 - tpr)
    return float(np.mean(np.asarray(outside) >= threshold))


def probes(x_ref: np.ndarray, kind: str, n: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs unlike the training data, built from what gridlab has (no downloads), of ``x_ref``'s shape and dtype:
    uniform and Gaussian noise over the data's range, constant frames, the data inverted, and, for 28x28 grayscale
    images, scikit-learn's digits upscaled (another data set of the same shape); for sensor grids, glitch frames
    (dead rows, a saturated block, a frame of ambient temperature only)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x_ref[:n])
    shape, dtype = x.shape[1:], x.dtype
    lo, hi = (0.0, 255.0) if dtype == np.uint8 else (float(x.min()), float(x.max()))
    mean, std = float(x.mean()), float(x.std()) or 1.0

    def cast(a):
        a = np.clip(a, lo, hi)
        return np.rint(a).astype(np.uint8) if dtype == np.uint8 else a.astype(dtype)

    out = {"uniform noise": cast(rng.uniform(lo, hi, (n, *shape))),
           "Gaussian noise": cast(rng.normal(mean, std, (n, *shape))),
           "constant": cast(np.broadcast_to(rng.uniform(lo, hi, (n,) + (1,) * len(shape)), (n, *shape)).copy())}
    if kind == "grid":
        dead = x.copy()
        rows = rng.integers(0, shape[0], (len(x), max(1, shape[0] // 8)))
        for i, r in enumerate(rows):
            dead[i, r] = lo
        saturated = x.copy()
        h, w = max(1, shape[0] // 4), max(1, shape[1] // 4)
        for i in range(len(x)):
            r, c = rng.integers(0, shape[0] - h + 1), rng.integers(0, shape[1] - w + 1)
            saturated[i, r:r + h, c:c + w] = hi
        ambient = np.median(x.reshape(len(x), -1), axis=1).reshape((len(x),) + (1,) * len(shape))
        out.update({"dead sensor rows": dead, "saturated block": saturated,
                    "ambient only": cast(ambient + rng.normal(0, 0.05 * std, x.shape))})
    else:
        out["inverted"] = cast(hi + lo - x.astype(np.float64))
        if tuple(shape) == (28, 28, 1) and dtype == np.uint8:
            out["digits (upscaled)"] = digits_28(len(x))
    return out


def digits_28(n: int) -> np.ndarray:
    """scikit-learn's bundled 8x8 digits, upscaled to 28x28 uint8 (another data set of Fashion-MNIST's shape)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    images = load_digits().images[:n] * (255.0 / 16.0)
    return np.stack([np.asarray(Image.fromarray(im.astype(np.uint8)).resize((28, 28), Image.Resampling.BILINEAR))
                     for im in images])[..., None]


def evaluate(h_train, y_train, h_val, h_in, h_probes: dict, w, b, pass_rate: float = 0.95, seed: int = 0) -> dict:
    """AUROC and FPR at ``pass_rate`` TPR of every method, in-distribution features ``h_in`` (the test split)
    against each probe set's features: ``{probe: {method: {"auroc", "fpr"}}}``, plus every method's scores for the
    plot (``"scores"``: {method: {"in": ..., probe: ...}})."""
    table, scores = {}, {}
    for method in METHODS:
        det = fit(method, h_train, y_train, h_val, w, b, pass_rate, seed)
        inside = det.score(h_in)
        scores[method] = {"in": inside, "threshold": det.threshold}
        for probe, h in h_probes.items():
            outside = det.score(h)
            scores[method][probe] = outside
            table.setdefault(probe, {})[method] = {"auroc": round(auroc(inside, outside), 4),
                                                   "fpr": round(fpr_at_tpr(inside, outside, pass_rate), 4)}
    return {"table": table, "scores": scores}
