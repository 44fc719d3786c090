import numpy as np

import gridlab
from gridlab.models import build_model
from gridlab.models.io import load_model
from gridlab.models.whitening import LAYER, fill, whitening_kernel

UNIT = {"kind": "divide255", "scale": 1 / 255, "offset": 0.0}


def _smooth_images(n=300, size=10, seed=0):
    """Images whose neighbouring pixels are correlated (a random field blurred), as natural images are."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size + 2, size + 2, 1))
    x = (x[:, :-2, :-2] + x[:, 1:-1, 1:-1] + x[:, 2:, 2:] + x[:, 1:-1, :-2]) / 4
    return x


def test_the_kernel_whitens_patches():
    x = _smooth_images()
    kernel = whitening_kernel(x, 3)
    assert kernel.shape == (3, 3, 1, 18)
    patches = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
    patches = patches.reshape(-1, 9)
    outputs = patches @ kernel.reshape(9, 18)[:, :9]
    cov = np.cov(outputs, rowvar=False)
    # the covariance of the filtered patches is the identity, up to the small epsilon on each eigenvalue
    assert np.allclose(np.diag(cov), 1.0, atol=0.05) and np.abs(cov - np.diag(np.diag(cov))).max() < 1e-6
    assert np.array_equal(kernel[..., 9:], -kernel[..., :9])
    top = whitening_kernel(x, 3, 4)       # the 4 largest directions, largest first
    assert top.shape == (3, 3, 1, 8) and np.allclose(top[..., :4], kernel[..., :4])


def test_the_kernel_does_not_depend_on_eigenvector_signs():
    """eigh may return any sign per eigenvector; the kernel fixes it, so every machine builds the same one."""
    x = _smooth_images()
    assert np.array_equal(whitening_kernel(x, 3), whitening_kernel(x.copy(), 3))
    first = whitening_kernel(x, 3).reshape(9, 18)[:, :9]
    assert (first[np.abs(first).argmax(axis=0), np.arange(9)] > 0).all()


def test_the_statistics_taken_a_chunk_at_a_time_are_those_of_all_patches(monkeypatch):
    from gridlab.models import whitening

    x = _smooth_images(n=40)
    whole = whitening_kernel(x, 3)
    monkeypatch.setattr(whitening, "CHUNK", 7)       # 6 chunks, the last one short
    assert np.allclose(whitening_kernel(x, 3), whole, rtol=1e-6, atol=1e-6)


def test_whiten_replaces_the_first_convolution():
    plain = build_model("gridlab_fast", (28, 28, 1), 10, UNIT, "uint8")
    white = build_model("gridlab_fast", (28, 28, 1), 10, UNIT, "uint8", whiten=True)
    layer = white.get_layer(LAYER)
    assert not layer.trainable and layer.filters == 16 and layer.kernel_size == (3, 3)   # the 8 largest directions
    assert build_model("gridlab_deep", (28, 28, 1), 10, whiten=True).get_layer(LAYER).filters == 18   # all 9
    assert [type(lay).__name__ for lay in white.layers] == [type(lay).__name__ for lay in plain.layers]


def test_whiten_on_a_model_without_a_convolution_trains_without_it_and_says_so(idx_dir, capsys):
    """preset=fast sets whiten=true; with an MLP named explicitly the run goes ahead and the notice says why."""
    run = gridlab.train(data="mnist", data_dir=str(idx_dir), model="seed003_mlp", whiten=True, epochs=1, batch=8,
                        report=False, calibrate=False, ood="none")
    assert LAYER not in [layer.name for layer in load_model(run.folder / "model.keras").layers]
    assert ("notice: whiten=true skipped: model seed003_mlp has no square, stride-1 Conv2D to replace (set "
            "whiten=false to silence this)") in capsys.readouterr().err


def test_fill_uses_what_the_layer_sees_and_survives_saving(tmp_path):
    raw = np.clip(_smooth_images(size=8) * 60 + 128, 0, 255).astype(np.uint8)
    model = build_model("gridlab_cnn", (8, 8, 1), 3, UNIT, "uint8", whiten=True)
    fill(model, raw)
    expected = whitening_kernel(raw.astype(np.float32) / 255, 3, 9)      # gridlab_cnn's 32 filters: all 9 pairs
    assert np.allclose(model.get_layer(LAYER).get_weights()[0], expected, rtol=1e-4, atol=1e-3)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    assert np.allclose(again.predict(raw[:16], verbose=0), model.predict(raw[:16], verbose=0), atol=1e-6)


def test_training_keeps_the_whitening_layer_frozen(idx_dir):
    run = gridlab.train(data="mnist", data_dir=str(idx_dir), model="gridlab_fast", whiten=True, epochs=2, batch=8,
                        verbose=False, report=False, calibrate=False, ood="none")
    model = load_model(run.folder / "model.keras")
    kernel = model.get_layer(LAYER).get_weights()[0]
    from gridlab.config import load_config
    from gridlab.datasets import build_dataset
    from gridlab.sources import read_source

    config = load_config({"data": "mnist", "data_dir": str(idx_dir)})      # the same split: the same seed
    dataset = build_dataset(read_source(config, progress=False), config)
    expected = whitening_kernel(dataset.x_train.astype(np.float32) / 255, 3, 8)
    assert kernel.shape == (3, 3, 1, 16) and np.allclose(kernel, expected, rtol=1e-4, atol=1e-3)
