import pytest

from gridlab.errors import ModelSpecError
from gridlab.models import build_model


def _spec(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return str(path)


def test_yaml_layer_list(tmp_path):
    path = _spec(tmp_path, "layers:\n  - Conv2D: {filters: 4, kernel_size: 3}\n  - Flatten\n"
                           "  - Dense: {units: 8, activation: relu}\n")
    model = build_model(path, (8, 8, 1), 3)
    assert [type(layer).__name__ for layer in model.layers] == ["Conv2D", "Flatten", "Dense", "Dense"]
    assert model.count_params() == (9 * 4 + 4) + (6 * 6 * 4 * 8 + 8) + (8 * 3 + 3)


def test_unknown_layer_suggests(tmp_path):
    with pytest.raises(ModelSpecError, match=r"layer 1: unknown layer 'Dens'. Did you mean \"Dense\"\?"):
        build_model(_spec(tmp_path, "layers:\n  - Dens: {units: 3}\n"), (8, 8, 1), 2)


def test_unknown_argument_suggests(tmp_path):
    with pytest.raises(ModelSpecError, match=r"layer 1 \(Dense\): unknown argument 'unit'. Did you mean \"units\"\?"):
        build_model(_spec(tmp_path, "layers:\n  - Dense: {unit: 3}\n"), (8, 8, 1), 2)


def test_lambda_is_not_allowed(tmp_path):
    with pytest.raises(ModelSpecError, match="unknown layer 'Lambda'"):
        build_model(_spec(tmp_path, "layers:\n  - Lambda: {function: print}\n"), (8, 8, 1), 2)


def test_model_that_does_not_fit_the_input(tmp_path):
    path = _spec(tmp_path, "layers:\n  - Conv2D: {filters: 2, kernel_size: 9}\n  - Flatten\n")
    with pytest.raises(ModelSpecError, match=r"does not fit inputs of shape \(8, 8, 1\)"):
        build_model(path, (8, 8, 1), 2)
