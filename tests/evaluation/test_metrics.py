"""Metrics against slow, obvious references and against scikit-learn."""
import itertools

import numpy as np
import pytest
from sklearn import metrics as skm

from gridlab.evaluation.metrics import (
    average_precision,
    binary_roc_auc,
    calibration,
    choose_threshold,
    compute_metrics,
    confusion,
    log_loss,
    mcc,
    top_k_accuracy,
)


def _random(n=200, k=4, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    if ties:
        logits = np.round(logits)
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, k, n)
    return y, proba


def slow_auc(is_pos, score):
    """P(score of a random positive > score of a random negative), ties count one half."""
    pos, neg = score[is_pos], score[~is_pos]
    pairs = [(1.0 if p > q else 0.5 if p == q else 0.0) for p, q in itertools.product(pos, neg)]
    return sum(pairs) / len(pairs)


def test_hand_checked_binary_case():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    m = compute_metrics(y, proba, ["neg", "pos"])
    assert m["accuracy"] == 0.75                     # third example is wrong
    assert m["confusion"] == [[2, 0], [1, 1]]
    assert m["confusion_normalized"] == [[1.0, 0.0], [0.5, 0.5]]
    assert m["per_class"]["pos"]["recall"] == 0.5 and m["per_class"]["pos"]["precision"] == 1.0
    assert m["balanced_accuracy"] == 0.75
    assert m["per_class"]["pos"]["roc_auc"] == 0.75  # pairs: (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4)


@pytest.mark.parametrize("seed, ties", [(0, False), (1, True), (2, True)])
def test_roc_auc_against_references(seed, ties):
    y, proba = _random(120, 3, seed, ties)
    for c in range(3):
        ours = binary_roc_auc(y == c, proba[:, c])
        assert ours == pytest.approx(slow_auc(y == c, proba[:, c]))
        assert ours == pytest.approx(skm.roc_auc_score(y == c, proba[:, c]))
    m = compute_metrics(y, proba, list("abc"))
    assert m["roc_auc_macro"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))


@pytest.mark.parametrize("seed, ties", [(0, False), (3, True)])
def test_average_precision_against_sklearn(seed, ties):
    y, proba = _random(150, 4, seed, ties)
    for c in range(4):
        assert average_precision(y == c, proba[:, c]) == pytest.approx(
            skm.average_precision_score(y == c, proba[:, c]))


def test_confusion_and_per_class_against_sklearn():
    y, proba = _random(300, 5, 4)
    pred = proba.argmax(1)
    assert confusion(y, pred, 5).tolist() == skm.confusion_matrix(y, pred, labels=range(5)).tolist()
    m = compute_metrics(y, proba, list("abcde"))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=range(5), zero_division=0)
    for i, name in enumerate("abcde"):
        assert m["per_class"][name]["precision"] == pytest.approx(p[i])
        assert m["per_class"][name]["recall"] == pytest.approx(r[i])
        assert m["per_class"][name]["f1"] == pytest.approx(f[i])
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert mcc(y, pred) == pytest.approx(skm.matthews_corrcoef(y, pred))


def test_log_loss_and_top_k_against_sklearn():
    y, proba = _random(100, 6, 5)
    assert log_loss(y, proba) == pytest.approx(skm.log_loss(y, proba, labels=range(6)))
    assert top_k_accuracy(y, proba, 3) == pytest.approx(skm.top_k_accuracy_score(y, proba, k=3, labels=range(6)))


def test_ece_against_slow_reference():
    y, proba = _random(500, 3, 6)
    conf, pred = proba.max(1), proba.argmax(1)
    bins = 15
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [i for i in range(len(y)) if (lo < conf[i] <= hi) or (b == 0 and conf[i] == 0)]
        if inside:
            acc = np.mean([pred[i] == y[i] for i in inside])
            total += len(inside) / len(y) * abs(acc - np.mean([conf[i] for i in inside]))
    assert calibration(y, proba, bins)["ece"] == pytest.approx(total)


def test_seed000_auc_mistake_differs_from_the_correct_call():
    """Seed 000 computed roc_auc_score(np.round(preds), y) — swapped and rounded. Show that it is not the AUC."""
    y, proba = _random(400, 2, 7)
    onehot = np.eye(2)[y]
    wrong = skm.roc_auc_score(np.round(proba), onehot)
    right = compute_metrics(y, proba, ["a", "b"])["roc_auc_macro"]
    assert right == pytest.approx(skm.roc_auc_score(onehot, proba))
    assert abs(wrong - right) > 1e-3


def test_threshold_rules():
    y = np.array([0, 0, 0, 1, 1, 0, 1, 1])
    score = np.array([0.1, 0.2, 0.3, 0.35, 0.5, 0.6, 0.7, 0.9])
    assert choose_threshold(y, score, ("fixed", 0.4)) == 0.4
    t = choose_threshold(y, score, ("recall", 1.0))
    assert t == 0.35 and np.all(score[y == 1] >= t)
    t = choose_threshold(y, score, ("precision", 1.0))
    assert t == 0.7
    f1 = {t: skm.f1_score(y, score >= t) for t in score}
    assert choose_threshold(y, score, ("f1", None)) == max(f1, key=f1.get)


def test_threshold_changes_predictions():
    y = np.array([1, 1, 0, 0])
    proba = np.array([[0.7, 0.3], [0.6, 0.4], [0.9, 0.1], [0.8, 0.2]])
    assert compute_metrics(y, proba, ["a", "b"])["accuracy"] == 0.5
    m = compute_metrics(y, proba, ["a", "b"], threshold=0.25, positive=1)
    assert m["accuracy"] == 1.0 and m["threshold"] == 0.25 and m["positive_class"] == "b"


def test_fit_temperature_recovers_a_known_temperature():
    """Labels drawn from softmax(z / 2.5) while the model says softmax(z): the fitted temperature is about 2.5."""
    from gridlab.evaluation.metrics import fit_temperature, temper

    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (20000, 5))
    truth = temper([np.exp(z) / np.exp(z).sum(1, keepdims=True)], 2.5)
    y = np.array([rng.choice(5, p=p) for p in truth])
    said = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert fit_temperature(y, [said]) == pytest.approx(2.5, rel=0.05)
    assert np.allclose(temper([said], 1.0), said)
    views = [said, said[:, ::-1]]
    assert np.allclose(temper(views, 1.0), (said + said[:, ::-1]) / 2)


def test_temperature_folded_into_the_output_layer_is_exact():
    from gridlab.evaluation.metrics import temper
    from gridlab.models import build_model
    from gridlab.models.temperature import set_temperature, views

    model = build_model("seed003_mlp", (8, 8, 1), 3, {"kind": "divide255", "scale": 1 / 255, "offset": 0.0},
                        "uint8")
    x = np.random.default_rng(1).integers(0, 255, (64, 8, 8, 1)).astype(np.uint8)
    before = views(model, x)
    set_temperature(model, 0.3)
    assert np.allclose(model.predict(x, verbose=0), temper(before, 0.3), atol=1e-5)
    assert (model.predict(x, verbose=0).argmax(1) == before[0].argmax(1)).all()


@pytest.mark.parametrize("ties", [False, True])
def test_pr_curve_against_a_slow_reference(ties):
    """Highest threshold first, one point per distinct score: precision and recall counted by hand."""
    from gridlab.evaluation.metrics import pr_curve, roc_curve

    y, proba = _random(90, 2, 6, ties)
    is_pos, score = y == 1, proba[:, 1]
    precision, recall, thresholds = pr_curve(is_pos, score)
    expected = sorted(set(score.tolist()), reverse=True)
    assert thresholds.tolist() == expected
    for p, r, t in zip(precision, recall, thresholds):
        chosen = score >= t
        assert p == pytest.approx((chosen & is_pos).sum() / chosen.sum())
        assert r == pytest.approx((chosen & is_pos).sum() / is_pos.sum())
    fpr, tpr, roc_thresholds = roc_curve(is_pos, score)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and len(roc_thresholds) == len(expected) + 1
