"""Out-of-distribution (OOD) scores: "this input is not like anything the model was trained on".

Every score is higher-is-more-in-distribution, computed from the model's penultimate features ``h`` (the input of
its final ``Dense(softmax)``; the first ``len(W)`` columns of what ``feature_model`` returns) and its logits
``z = h W + b`` (the calibrated ones: the temperature is folded into ``W`` and ``b``):

- ``msp``: the maximum softmax probability (Hendrycks and Gimpel 2017), the baseline;
- ``energy``: ``logsumexp(z)``, the negative free energy (Liu et al. 2020);
- ``mahalanobis``: minus the smallest Mahalanobis distance of ``h`` to a class mean, with one covariance shared by
  the classes (Lee et al. 2018);
- ``mahalanobis_layers``: the same distance on ``h`` extended by a summary of the input (``SUMMARY``): per channel
  its means over a grid of blocks (7x7 for 28x28 images) and the log of their deviation. Noise, blank, inverted and
  glitched frames differ most from the training data there, which the penultimate features of a small classifier
  partly discard (Lee et al.'s feature ensemble, on the input instead of on every convolutional stage: as good or
  better on the probe sets, at a fraction of the cost per image; bench/ood_variants.py).
- ``knn``: minus the distance of the L2-normalised ``h`` to its k-th nearest training example (Sun et al. 2022);
- ``ensemble``: ``mahalanobis_layers`` (as minus the log of the squared distance) plus a kernel density of the
  normalised ``h`` over the same sampled training examples as ``knn`` (``tau * logsumexp(similarity / tau)``, a
  smooth nearest-neighbour score without the top-k search), each standardised by its mean and deviation on the
  validation split (on the linear scale a few in-distribution examples far out dominate the deviation). The two
  fail on different probes (the input summary catches noise, blank, inverted and glitched frames; the density
  catches another data set's images that land between the classes), so their sum is the default (``auto``),
  measured in docs/benchmarks.md ("ood").

Runs fitted before the input summary keep the features and the score they were fitted with: the channel
means and deviations of the input and of each convolutional stage (their ``ood.npz`` names the stages), and for
``ensemble`` the k-th neighbour's distance (``Detector.density``).

Each score has two forms: ``Detector.score`` in NumPy (float64 where it matters), on which ``fit`` chooses the threshold
and the benchmarks measure AUROC, and ``Detector.graph_score`` in Keras ops, which ``scoring_model`` puts in the
model's graph, so that every prediction path (Keras, ``model-ood.onnx``, the server) computes it in the pass that
computes the probabilities. A test holds the two to the same scores for every method.

``fit`` estimates what a method needs on the training split and sets the threshold on the validation split so that
``pass_rate`` of it passes (95% by default); ``Detector.flag`` marks a score below the threshold. A test-time-view
model is scored on its unmoved view (its ``body``), as saliency explains it. The fitted arrays travel in the run
folder (``runs.write_ood``), so every path that predicts (files, the server, streaming) scores the same way.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..config import SPECS
from ..errors import ConfigError, RunError

METHODS = tuple(c for c in SPECS["ood"].choices if c not in ("auto", "none"))
DEFAULT = "ensemble"         # what `auto` means: the best across the probe sets in docs/benchmarks.md ("ood")
KNN_K = 5                    # the k-th neighbour (``knn``) in a random bank of at most KNN_BANK training examples,
KNN_BANK = 128               # which ``ensemble``'s kernel density also sums over (Sun et al. 2022 sample the bank);
                             # a bank of 500 measured the same AUROCs to about 0.002 and cost more time per image
                             # (bench/ood_variants.py). Runs keep the bank they were fitted with (ood.npz)
KDE_TAU = 0.05               # the kernel density's temperature (``ensemble``) in new fits; each run stores its own
                             # (``Detector.tau``). 0.1 measured in bench/ood_variants.py beside it
GRID = 7                     # the input summary's blocks: H // GRID x W // GRID values each (a grid of 7 to 13
                             # blocks a side; one block per value for inputs under GRID a side)
SPREAD_FLOOR = 1e-3          # added to the block means' deviation before its log (``_summary``)
FIT_MAX = 20_000             # training examples the statistics are estimated from (a stratified-enough sample)


def _unit(h) -> np.ndarray:
    """The rows of ``h`` scaled to length 1 (a zero row stays zero), in float64: the bank and the features the
    neighbour parts compare with it."""
    h = np.asarray(h, np.float64)
    return h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)


def _graph_unit(h):
    """``_unit`` in Keras ops, for the scoring model's graph."""
    from keras import ops

    return h / ops.maximum(ops.sqrt(ops.sum(h * h, axis=1, keepdims=True)), 1e-12)


@dataclasses.dataclass
class Detector:
    """A fitted OOD score: ``method``, its ``threshold`` (scores below it are flagged), the output layer's ``w``,
    ``b``, and the method's statistics: class ``means`` and ``precision`` matrix (Mahalanobis), the normalised
    ``bank`` (kNN), and for ``ensemble`` the validation mean and deviation of both parts' scores (``scale``)."""

    method: str
    threshold: float
    pass_rate: float
    w: np.ndarray
    b: np.ndarray
    means: np.ndarray | None = None
    precision: np.ndarray | None = None
    bank: np.ndarray | None = None
    scale: np.ndarray | None = None
    stages: np.ndarray | None = None     # the maps whose statistics extend the features (``feature_model``)
    distance: str = "log"                # ensemble: its Mahalanobis part on the log scale ("linear": runs fitted
                                         # before the log scale, whose ``scale`` was measured on squared distances)
    density: str = "kde"                 # ensemble: its neighbour part, the kernel density ("knn": runs fitted
                                         # before it, scored by the k-th neighbour's distance)
    tau: float = KDE_TAU                 # the kernel density's temperature

    @functools.cached_property
    def whitener(self) -> np.ndarray:
        """``L`` with ``precision = L L^T`` (``_square_root``: any such ``L`` gives the same distances)."""
        return _square_root(self.precision)

    def logits(self, h: np.ndarray) -> np.ndarray:
        return np.asarray(h, np.float64)[:, :len(self.w)] @ self.w + self.b

    def score(self, h: np.ndarray) -> np.ndarray:
        """The score of each row of ``feature_model``'s features ``h`` (N, D): higher = more like the training
        data."""
        h = np.asarray(h)
        penultimate = h[:, :len(self.w)]
        if self.method in ("msp", "energy"):
            z = self.logits(h)
            top = z.max(axis=1, keepdims=True)
            lse = (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]
            return np.exp(top[:, 0] - lse) if self.method == "msp" else lse
        if self.method == "mahalanobis":
            return self._mahalanobis(penultimate)
        if self.method == "mahalanobis_layers":
            return self._mahalanobis(h)
        if self.method == "knn":
            return self._knn(penultimate)
        return self._ensemble(h)

    @functools.cached_property
    def _whitened(self):
        """(centre, L, the class means whitened, their squared norms) in float32, centred on the mean of the class
        means: the squared distances below are then sums of terms of about their own size (little cancellation),
        and float32's products take half the time of float64's."""
        centre = self.means.mean(axis=0)
        m = (self.means - centre) @ self.whitener
        return tuple(np.ascontiguousarray(a, np.float32) for a in (centre, self.whitener, m, (m * m).sum(axis=1)))

    def _check_width(self, width):
        if width != self.means.shape[1]:
            raise RunError(f"the OOD statistics were fitted on {self.means.shape[1]} features and the model gives "
                           f"{width} (stages {self.stage_names}): the run's ood.npz does not belong to this "
                           "model. Retrain the run, or delete ood.npz to predict without the flag.")

    def _mahalanobis(self, h):
        self._check_width(h.shape[1])
        # (h - m) P (h - m) = |hL - mL|^2 with P = L L^T: one matrix product for every class (BLAS)
        centre, whitener, m, mm = self._whitened
        z = (np.asarray(h, np.float32) - centre) @ whitener
        d2 = np.einsum("ij,ij->i", z, z)[:, None] - 2.0 * (z @ m.T) + mm[None, :]
        return -np.maximum(d2.min(axis=1), 0.0).astype(np.float64)

    def _knn(self, h):
        unit = _unit(h)
        out = np.empty(len(h))
        for lo in range(0, len(h), 1024):              # distances a chunk at a time: memory stays bounded
            sim = unit[lo:lo + 1024] @ self.bank.T     # float64: near 1, sqrt(2 - 2 sim) magnifies rounding (a
            kth = np.partition(sim, -KNN_K, axis=1)[:, -KNN_K]       # barely trained model's neighbours can be
            out[lo:lo + 1024] = -np.sqrt(np.maximum(2.0 - 2.0 * kth, 0.0))    # 0.004 apart)
        return out

    def _ensemble_parts(self, h):
        """The two parts of ``ensemble`` before standardising: minus the log of the squared Mahalanobis distance
        (on the linear scale its validation distribution is heavy-tailed: a few in-distribution examples far out
        set the deviation the part is divided by), and the neighbour part (the kernel density; the k-th neighbour's
        distance for runs fitted before it)."""
        mahalanobis = self._mahalanobis(h)
        if self.distance == "log":
            mahalanobis = -np.log(np.maximum(-mahalanobis, 1e-12))
        penultimate = h[:, :len(self.w)]
        return mahalanobis, self._kde(penultimate) if self.density == "kde" else self._knn(penultimate)

    def _kde(self, h):
        """``tau * logsumexp(similarity / tau)`` over the bank, in float64."""
        s = _unit(h) @ self.bank.T / self.tau
        top = s.max(axis=1, keepdims=True)
        return self.tau * (top[:, 0] + np.log(np.exp(s - top).sum(axis=1)))

    def _ensemble(self, h):
        (m_mean, m_std), (k_mean, k_std) = self.scale
        mahalanobis, knn = self._ensemble_parts(h)
        return (mahalanobis - m_mean) / m_std + (knn - k_mean) / k_std

    def graph_score(self, h):
        """``score`` as Keras ops on a (N, D) float32 feature tensor, for a model that outputs the score itself
        (``scoring_model``): TensorFlow or ONNX Runtime then computes it in the pass that computes the features,
        with no second pass through NumPy (whose BLAS threads and ONNX Runtime's took turns slowing each other).
        The same arithmetic in float32, except the kNN search (``_graph_knn``); a test checks it against
        ``score``."""
        from keras import ops

        def const(a):
            return np.ascontiguousarray(a, np.float32)

        penultimate = h[:, :len(self.w)]
        if self.method in ("msp", "energy"):
            z = ops.matmul(penultimate, const(self.w)) + const(self.b)
            lse = ops.logsumexp(z, axis=1)
            return ops.exp(ops.max(z, axis=1) - lse) if self.method == "msp" else lse
        if self.method == "mahalanobis":
            return self._graph_mahalanobis(penultimate)
        if self.method == "mahalanobis_layers":
            return self._graph_mahalanobis(h)
        if self.method == "knn":
            return self._graph_knn(penultimate)
        mahalanobis = self._graph_mahalanobis(h)
        near = self._graph_kde(penultimate) if self.density == "kde" else self._graph_knn(penultimate)
        if self.distance == "log":
            mahalanobis = -ops.log(ops.maximum(-mahalanobis, 1e-12))
        (m_mean, m_std), (k_mean, k_std) = self.scale
        return (mahalanobis - m_mean) / m_std + (near - k_mean) / k_std

    def _graph_mahalanobis(self, h):
        from keras import ops

        self._check_width(int(h.shape[1]))
        centre, whitener, m, mm = self._whitened
        z = ops.matmul(h - centre, whitener)
        d2 = ops.sum(z * z, axis=1, keepdims=True) - 2.0 * ops.matmul(z, np.ascontiguousarray(m.T)) + mm[None, :]
        return -ops.maximum(ops.min(d2, axis=1), 0.0)

    def _graph_kde(self, h):
        """The kernel density in float32: one matrix product with the bank (divided by ``tau`` beforehand) and a
        log-sum-exp; no top-k search, which cost ONNX Runtime 8% more time per image on its own."""
        from keras import ops

        bank = np.ascontiguousarray(self.bank.T / self.tau, np.float32)
        return self.tau * ops.logsumexp(ops.matmul(_graph_unit(h), bank), axis=1)

    def _graph_knn(self, h):
        """The kNN score in float32. Similarities near 1 cannot order neighbours 0.004 apart (a barely trained
        model's), so they only pick ``2k`` candidates, on offsets from ``r``, the bank's mean direction (with
        ``u = r + du`` and ``b = r + db``, ``u . b`` ranks the bank as ``r . db + du . db`` does, whose rounding
        scales with the offsets); the k-th is then the k-th smallest of the candidates' distances ``|du - db|``,
        which lose no precision."""
        from keras import ops

        r = self.bank.mean(axis=0)
        r /= max(np.linalg.norm(r), 1e-12)
        offsets = self.bank - r
        along = np.ascontiguousarray(offsets @ r, np.float32)
        offsets = np.ascontiguousarray(offsets, np.float32)
        du = _graph_unit(h) - np.asarray(r, np.float32)
        k = min(2 * KNN_K, len(offsets))
        _, candidates = ops.top_k(ops.matmul(du, np.ascontiguousarray(offsets.T)) + along, k)
        gaps = ops.expand_dims(du, 1) - ops.take(offsets, candidates, axis=0)          # (N, 2k, D)
        nearest, _ = ops.top_k(-ops.sum(ops.square(gaps), axis=2), KNN_K)
        return -ops.sqrt(-nearest[:, KNN_K - 1])

    def flag(self, scores: np.ndarray) -> np.ndarray:
        """True where a score is below the threshold: not like the training data."""
        return np.asarray(scores) < self.threshold

    def arrays(self) -> dict:
        """What ``runs.write_ood`` stores."""
        out = {"method": np.asarray(self.method), "threshold": np.asarray(self.threshold),
               "pass_rate": np.asarray(self.pass_rate), "w": self.w, "b": self.b,
               "distance": np.asarray(self.distance), "density": np.asarray(self.density),
               "tau": np.asarray(self.tau)}
        for key in ("means", "precision", "bank", "scale", "stages"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict) -> "Detector":
        return cls(str(arrays["method"]), float(arrays["threshold"]), float(arrays["pass_rate"]), arrays["w"],
                   arrays["b"], arrays.get("means"), arrays.get("precision"), arrays.get("bank"),
                   arrays.get("scale"), arrays.get("stages"), str(arrays.get("distance", "linear")),
                   str(arrays.get("density", "knn")), float(arrays.get("tau", KDE_TAU)))

    @property
    def stage_names(self) -> list[str]:
        """The stages ``feature_model`` must add for this detector: none for the methods that read the penultimate
        features only (and for runs fitted before stages were stored)."""
        if self.method not in ("mahalanobis_layers", "ensemble") or self.stages is None:
            return []
        return [str(s) for s in self.stages]


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
        pass_rate: float = 0.95, seed: int = 0, stages=(), density: str = "kde", tau: float = KDE_TAU,
        bank: int = KNN_BANK, shared: dict | None = None) -> Detector:
    """A ``Detector`` for ``method`` from training features and labels, its threshold chosen on the validation
    features so that ``pass_rate`` of them pass (``density``: ``ensemble``'s neighbour part, "kde" or "knn", the
    one before it; ``tau``: the kernel density's temperature; ``bank``: how many training examples ``knn`` and the
    density compare with; bench/ood_variants.py measures all three). ``shared``: a dict that several fits on the
    same features pass in turn, so that the class statistics are computed once (``evaluate``)."""
    rng = np.random.default_rng(seed)
    if len(h_train) > FIT_MAX:
        keep = rng.choice(len(h_train), FIT_MAX, replace=False)
        h_train, y_train = h_train[keep], y_train[keep]
    det = Detector(method, 0.0, pass_rate, np.asarray(w, np.float64), np.asarray(b, np.float64),
                   stages=np.asarray(list(stages), dtype=str), density=density, tau=float(tau))
    h_train, h_val = np.asarray(h_train, np.float64), np.asarray(h_val, np.float64)
    penultimate = h_train[:, :len(det.w)]
    if method in ("mahalanobis", "mahalanobis_layers", "ensemble"):
        h = penultimate if method == "mahalanobis" else h_train
        det.means, det.precision, whitener = _gaussian(h, y_train, shared)
        if whitener is not None:
            det.whitener = whitener
    if method in ("knn", "ensemble"):
        det.bank = _unit(penultimate[rng.choice(len(penultimate), min(bank, len(penultimate)), replace=False)])
    if method == "ensemble":     # each part standardised on the validation split, so that they weigh the same
        det.scale = np.array([[p.mean(), max(p.std(), 1e-12)] for p in det._ensemble_parts(h_val)])
    det.threshold = float(np.quantile(det.score(h_val), 1.0 - pass_rate))
    return det


def _gaussian(h: np.ndarray, y: np.ndarray, shared: dict | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The class means of ``h`` (N, D), the precision of its class-centred covariance (regularised by a millionth
    of its mean variance, so it is positive definite), and with ``shared`` its whitener, which every fit sharing it
    scores with (None without: the detector computes it when it first scores). The fits ``shared`` is passed to
    see the same rows, so ``D`` tells their features apart: the penultimate ones alone, or with the stages'."""
    if shared is not None and h.shape[1] in shared:
        return shared[h.shape[1]]
    classes = np.unique(y)
    means = np.stack([h[y == c].mean(axis=0) for c in classes])
    centred = h - means[np.searchsorted(classes, y)]
    cov = centred.T @ centred / max(len(h) - 1, 1)
    precision = _inverse(cov + 1e-6 * np.trace(cov) / len(cov) * np.eye(len(cov)))
    if shared is None:
        return means, precision, None
    shared[h.shape[1]] = means, precision, _square_root(precision)
    return shared[h.shape[1]]


def _inverse(a: np.ndarray) -> np.ndarray:
    """The inverse of the symmetric positive definite ``a`` from its Cholesky factor ``C`` (``a^-1 = C^-T C^-1``;
    on a 700x700 covariance here about a fifth of the time of ``np.linalg.pinv``'s SVD); ``pinv`` where ``a`` is not
    numerically positive definite. The end of a run, measured whole: bench/ood_fit.py."""
    try:
        c_inv = np.linalg.inv(np.linalg.cholesky(a))
    except np.linalg.LinAlgError:
        return np.linalg.pinv(a)
    return c_inv.T @ c_inv


def _square_root(precision: np.ndarray) -> np.ndarray:
    """``L`` with ``precision = L L^T`` (``Detector.whitener``): its Cholesky factor (on a 700x700 matrix here about
    a tenth of the time of an eigendecomposition), from the eigendecomposition where ``precision`` is not
    numerically positive definite (an old run's pseudo-inverse of a singular covariance)."""
    p = (precision + precision.T) / 2
    try:
        return np.linalg.cholesky(p)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(p)
        return vectors * np.sqrt(np.maximum(values, 0.0))


def feature_model(model, stages=None):
    """A Keras model from the saved model's input to ``(probabilities, features)`` in one pass, and the output layer
    (whose weights give the logits). The features are the penultimate ones, then what each name in ``stages`` adds
    (``_features``). ``None``: ``model_stages``, as a new fit uses; a fitted run passes the names it stored, so that
    its features stay what its statistics were fitted on."""
    import keras

    from ..models.temperature import output_layer, shared_body

    last = output_layer(model)
    body = shared_body(model)
    stages = model_stages(model) if stages is None else list(stages)
    if body is not None:   # the shared network, called once more on a fresh input, on the unmoved view
        inputs, (_, features) = _chain(body, stages)
        features = keras.Model(inputs, features)(model.get_layer("as_float").output)
        return keras.Model(model.inputs[0], [model.outputs[0], features]), last
    if isinstance(model, keras.Sequential):
        # a Sequential's layers keep a node from every partial graph built while layers were added, and
        # ``layer.output`` is the first of them: maps taken from there would be computed a second time beside the
        # model's own graph (twice the time per image). Its layers, called once more in order, give one graph.
        inputs, outputs = _chain(model, stages)
        return keras.Model(inputs, outputs), last
    features = _features(last.input, model.inputs[0], lambda name: model.get_layer(name).output, stages)
    return keras.Model(model.inputs[0], [model.outputs[0], features]), last


def scoring_model(model, detector: Detector):
    """A Keras model from the saved model's input to the probabilities with the OOD score as one more column, in one
    pass: ``feature_model`` on the stages ``detector`` was fitted with, then ``Detector.graph_score``. What the Keras
    runtime predicts with, and what the ONNX export (``model-ood.onnx``) is written from; ``split_scored`` reads its
    output. One output, not two: a second output cost Keras 3% more time per image."""
    import keras
    from keras import ops

    features, _ = feature_model(model, detector.stage_names)
    proba, h = features.outputs
    score = keras.layers.Lambda(lambda h: ops.expand_dims(detector.graph_score(h), 1), name="ood_score")(h)
    # on the one input tensor, not a list of it: a list makes Keras warn "The structure of `inputs` doesn't match"
    # wherever the model is called on one array (the ONNX conversion does)
    return keras.Model(features.inputs[0], keras.layers.Concatenate(name="proba_and_ood_score")([proba, score]))


def split_scored(outputs, detector: Detector) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, scores) from what a scoring model gives: one array whose last column is the score
    (``scoring_model``, the Keras runtime; a list of it from ONNX Runtime), or from a ``model-ood.onnx`` exported
    before the score moved into the graph, the probabilities and the features, scored here."""
    if isinstance(outputs, (list, tuple)) and len(outputs) == 2:
        return np.asarray(outputs[0], np.float64), detector.score(outputs[1])
    out = np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs, np.float64)
    return out[:, :-1], out[:, -1]


def _chain(graph, stages):
    """(input, [output, features]) of ``graph``'s layers called once more, in order, on a fresh input: one graph in
    which each stage's map is computed once (a layer's first node may belong to another graph than this one)."""
    import keras

    inputs = keras.Input(tuple(graph.inputs[0].shape[1:]), dtype=graph.inputs[0].dtype)
    x, maps = inputs, {}
    for layer in graph.layers:
        penultimate, x = x, layer(x)
        maps[layer.name] = x
    return inputs, [x, _features(penultimate, inputs, maps.__getitem__, stages)]


INPUT = "<input>"             # the input's channel means and deviations (runs fitted before SUMMARY)
SUMMARY = "<input summary>"   # the input's summary (``_summary``), what new fits extend the features with


def model_stages(model) -> list[str]:
    """The maps whose statistics extend the features of a new fit: the input's summary (``SUMMARY``) for inputs that
    are images or grids (rank 4, the test-time-view model's included), none for others."""
    return [SUMMARY] if len(model.inputs[0].shape) == 4 else []


def _features(penultimate, inputs, map_of, stages):
    """The penultimate features, then for each name in ``stages``: the input's summary (``SUMMARY``), or the channel
    means and standard deviations of a map (``map_of(name)``; ``INPUT`` is ``inputs``; what runs fitted before the
    summary stored), as float32."""
    import keras
    from keras import ops

    parts = [ops.cast(penultimate, "float32")]
    for name in stages:
        if name == SUMMARY:
            parts += _summary(ops.cast(inputs, "float32"))
            continue
        fmap = ops.cast(inputs if name == INPUT else map_of(name), "float32")
        if name == INPUT and fmap.shape[-1] == 1:
            # one channel (grayscale, a sensor grid): the same statistics over the flattened frame. ONNX Runtime
            # reduces a last axis 18x faster than axes (1, 2) followed by a channel axis of 1 (0.04 ms against
            # 0.7 ms per 1,024 Fashion-MNIST images on the 2-core Intel Xeon)
            fmap = ops.reshape(fmap, (-1, 1, int(fmap.shape[1]) * int(fmap.shape[2])))
            parts += [ops.mean(fmap, axis=2), ops.std(fmap, axis=2)]
            continue
        mean = ops.mean(fmap, axis=(1, 2))
        if name == INPUT:     # raw data may sit far from zero (temperatures in kelvin): subtract the mean first
            parts += [mean, ops.std(fmap, axis=(1, 2))]
        else:                 # a layer's map is near zero: sqrt(E[x^2] - E[x]^2) reads the map once per reduction
            parts += [mean, ops.sqrt(ops.maximum(ops.mean(ops.square(fmap), axis=(1, 2)) - ops.square(mean), 0.0))]
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="ood_features")(parts)


def _summary(x) -> list:
    """The input's summary, from the (N, H, W, C) float32 input: per channel its means over blocks of ``H // GRID``
    x ``W // GRID`` values (7x7 blocks for 28x28 images and 110x120 frames; the rows and columns that do not fill a
    block left out), and the log of their deviation (plus ``SPREAD_FLOOR``: a flat frame's deviation is 0, and
    float32 rounding in another runtime must not move its log). One pooling pass over the input; the rest works on
    the block means. It sees the input at the scale of its blocks: texture finer than a block is left to the
    network's features."""
    from keras import ops

    h, w, c = (int(d) for d in x.shape[1:])
    bh, bw = max(1, h // GRID), max(1, w // GRID)
    cells = (h // bh) * (w // bw)
    blocks = ops.average_pool(x, (bh, bw), (bh, bw), padding="valid")
    if c == 1:    # ONNX Runtime reduces a last axis far faster than axes (1, 2) followed by a channel axis of 1
        means = ops.reshape(blocks, (-1, cells))
        spread = ops.std(means, axis=1, keepdims=True)
    else:
        means = ops.reshape(blocks, (-1, cells * c))
        spread = ops.std(ops.reshape(blocks, (-1, cells, c)), axis=1)
    return [means, ops.log(spread + SPREAD_FLOOR)]


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


def evaluate(h_train, y_train, h_val, h_in, h_probes: dict, w, b, pass_rate: float = 0.95, seed: int = 0,
             fitted: Detector | None = None) -> dict:
    """AUROC and FPR at ``pass_rate`` TPR of every method, in-distribution features ``h_in`` (the test split)
    against each probe set's features: ``{probe: {method: {"auroc", "fpr"}}}``, plus every method's scores for the
    plot (``"scores"``: {method: {"in": ..., probe: ...}}). ``fitted``: the run's own detector, fitted on the same
    features (it is not fitted again)."""
    table, scores, shared = {}, {}, {}
    if fitted is not None and fitted.means is not None:
        shared[fitted.means.shape[1]] = (fitted.means, fitted.precision, fitted.whitener)
    for method in METHODS:
        det = fitted if fitted is not None and fitted.method == method else fit(
            method, h_train, y_train, h_val, w, b, pass_rate, seed, shared=shared)
        inside = det.score(h_in)
        scores[method] = {"in": inside, "threshold": det.threshold}
        for probe, h in h_probes.items():
            outside = det.score(h)
            scores[method][probe] = outside
            table.setdefault(probe, {})[method] = {"auroc": round(auroc(inside, outside), 4),
                                                   "fpr": round(fpr_at_tpr(inside, outside, pass_rate), 4)}
    return {"table": table, "scores": scores}
