import numpy as np

from gridlab.models import build_model, with_test_time_views
from gridlab.models.temperature import views

UNIT = {"kind": "divide255", "scale": 1 / 255, "offset": 0.0}


def _move(x, down_right: bool):
    """x (N, H, W, C) moved one pixel down-right (or up-left), the vacated row and column zero."""
    out = np.zeros_like(x)
    if down_right:
        out[:, 1:, 1:] = x[:, :-1, :-1]
    else:
        out[:, :-1, :-1] = x[:, 1:, 1:]
    return out


def test_the_six_views_and_their_weights():
    """The test-time model's output is 1/4 (image) + 1/4 (mirror) + 1/8 each of both moved one pixel either way,
    computed here by hand from the network alone."""
    rng = np.random.default_rng(0)
    model = build_model("gridlab_fast", (12, 10, 1), 4, UNIT, "uint8")
    x = rng.integers(0, 256, (16, 12, 10, 1)).astype(np.uint8)
    tta = with_test_time_views(model)
    scaled = x.astype(np.float32) / 255
    body = tta.get_layer("body")

    def p(v):
        return body.predict(v, verbose=0)

    mirror = scaled[:, :, ::-1]
    expected = (p(scaled) + p(mirror)) / 4 + sum(p(_move(v, d)) for v in (scaled, mirror) for d in (True, False)) / 8
    assert np.allclose(tta.predict(x, verbose=0), expected, atol=1e-6)
    assert np.allclose(np.mean(views(tta, x), axis=0), expected, atol=1e-6)      # what calibration fits on
    assert np.allclose(tta.predict(x[:, :, ::-1], verbose=0), expected, atol=1e-6)   # mirror-symmetric
    assert not np.allclose(p(scaled), expected, atol=1e-3)          # the views differ: the test can tell
