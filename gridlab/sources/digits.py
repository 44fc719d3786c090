"""scikit-learn's bundled 8x8 digits (1,797 images, values 0-16): always present, so gridlab works offline."""
from __future__ import annotations

import numpy as np


def load_digits_arrays():
    """Return ``(x, y, class_names)`` with x as uint8 in 0..255 (the 0..16 values scaled), shape (1797, 8, 8)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return x, bunch.target.astype(np.int64), [str(d) for d in range(10)]
