"""examples/digits.py does what it says: its jitted Adam step is Adam's first step in
closed form, its loss has the gradient of central differences, a few epochs of training
classify most test digits, the plain progress lines and tqdm's bar both report the
epochs, ``--plots`` writes three PNG files and prints their paths, and without
scikit-learn, matplotlib or tqdm it says what to install (or falls back to lines).

The example runs once per module with 3 epochs (about a second); the missing-package
cases stop before training or train for one epoch."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np
import pytest
from example_loader import load_example

from fungrad import nn, optim
from fungrad.test_util import check_grads

pytest.importorskip("sklearn", reason="examples/digits.py trains on scikit-learn's digits")

EPOCHS = 3  # 3 epochs reach 93.6-95% test accuracy over seeds 0-9; the test asks for 90%
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_main(module: ModuleType, argv: list[str]) -> tuple[Any, str, str]:
    """``module.main(argv)``, with what it printed to stdout and to stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        result = module.main(argv)
    return result, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def digits() -> ModuleType:
    return load_example("digits")


@pytest.fixture(scope="module")
def plain_run(digits: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three epochs with a printed line per epoch, and the pictures if matplotlib is here."""
    argv = ["--epochs", str(EPOCHS), "--no-progress-bar"]
    plots = None
    if importlib.util.find_spec("matplotlib") is not None:
        plots = tmp_path_factory.mktemp("plots")
        argv += ["--plots", str(plots)]
    metrics, out, err = run_main(digits, argv)
    return {"metrics": metrics, "out": out, "err": err, "plots": plots}


# ---------------------------------------------------------------------------------------
# The mathematics of the step


def test_loss_gradient_matches_central_differences(digits: ModuleType) -> None:
    rng = np.random.default_rng(0)
    params = nn.init_mlp(rng, [64, 5, 10])
    for layer in params:
        layer["b"] = 0.1 * rng.standard_normal(layer["b"].shape)  # no ReLU input at a kink
    inputs, labels = rng.uniform(0.0, 1.0, (4, 64)), np.array([3, 0, 9, 3])
    check_grads(lambda p: digits.loss_fn(p, inputs, labels), (params,), order=1)


def test_first_train_step_is_adams_first_step_in_closed_form(digits: ModuleType) -> None:
    """After one step the bias-corrected moments are g and g**2, so Adam moves each
    parameter by -lr * g / (|g| + eps); the cosine schedule's rate at step 0 is lr."""
    rng = np.random.default_rng(1)
    params = nn.init_mlp(rng, [64, 8, 10])
    inputs, labels = rng.uniform(0.0, 1.0, (16, 64)), rng.integers(0, 10, 16)
    lr = 0.01
    optimizer = optim.adam(optim.cosine_decay_schedule(lr, 100))
    step = digits.make_train_step(optimizer)
    new_params, state, loss = step(params, optimizer.init(params), inputs, labels)

    # The gradient from a hand-written backward pass of the same network.
    (w0, b0), (w1, b1) = ((layer["w"], layer["b"]) for layer in params)
    pre = inputs @ w0 + b0
    hidden = np.maximum(pre, 0.0)
    logits = hidden @ w1 + b1
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    assert float(loss) == pytest.approx(-log_p[rows, labels].mean(), rel=1e-12)
    d_logits = np.exp(log_p)
    d_logits[rows, labels] -= 1.0
    d_logits /= len(labels)
    d_pre = (d_logits @ w1.T) * (pre > 0)
    grads = [(inputs.T @ d_pre, d_pre.sum(0)), (hidden.T @ d_logits, d_logits.sum(0))]

    for layer, new_layer, (g_w, g_b) in zip(params, new_params, grads):
        for name, g in (("w", g_w), ("b", g_b)):
            want = layer[name] - lr * g / (np.abs(g) + 1e-8)
            np.testing.assert_allclose(new_layer[name], want, rtol=1e-9, atol=1e-12)
    assert int(state[0].count) == 1


def test_batches_are_disjoint_and_of_one_size(digits: ModuleType) -> None:
    rng = np.random.default_rng(0)
    got = [index for _, index in digits.batches(rng, 10, 3)]
    assert [len(index) for index in got] == [3, 3, 3]  # the incomplete fourth is left out
    seen = np.concatenate(got)
    assert len(set(seen.tolist())) == 9 and seen.min() >= 0 and seen.max() < 10


def test_confusion_matrix_counts_pairs_of_label_and_prediction(digits: ModuleType) -> None:
    counts = digits.confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 2, 1, 2]), classes=3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


# ---------------------------------------------------------------------------------------
# Training through main


def test_a_few_epochs_classify_most_test_digits(plain_run: dict[str, Any]) -> None:
    metrics, out = plain_run["metrics"], plain_run["out"]
    printed = re.search(r"test accuracy (\d+\.\d)% \((\d+) of (\d+)\)", out)
    assert printed, out
    assert float(printed[1]) > 90.0, out
    assert float(printed[1]) == pytest.approx(100 * metrics["test_accuracy"], abs=0.05)
    assert int(printed[3]) == 360  # the fixed, stratified split: 20% of 1,797 images
    assert metrics["traces"] == 1  # one compiled step for all 66 steps
    assert metrics["steps"] == EPOCHS * (1437 // 64)
    history = metrics["history"]
    assert len(history["train_loss"]) == EPOCHS
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_confusion_matrix_agrees_with_the_accuracy(plain_run: dict[str, Any]) -> None:
    metrics = plain_run["metrics"]
    counts = metrics["confusion_matrix"]
    assert counts.shape == (10, 10) and counts.sum() == 360
    assert np.trace(counts) / 360 == pytest.approx(metrics["test_accuracy"])
    # Stratified: each digit has 35 to 37 test images (rows are the true digits).
    assert set(counts.sum(axis=1).tolist()) <= {35, 36, 37}


def test_plain_progress_prints_one_line_per_epoch(plain_run: dict[str, Any]) -> None:
    lines = re.findall(r"^epoch +(\d+)/(\d+) +loss [\d.]+ +train accuracy", plain_run["out"], re.M)
    assert lines == [(str(e), str(EPOCHS)) for e in range(1, EPOCHS + 1)], plain_run["out"]
    assert "epoch/s" not in plain_run["err"]


def test_plots_are_png_files_whose_paths_are_printed(plain_run: dict[str, Any]) -> None:
    pytest.importorskip("matplotlib", reason="--plots draws with matplotlib")
    directory, metrics = plain_run["plots"], plain_run["metrics"]
    names = ["digits_loss.png", "digits_accuracy.png", "digits_confusion.png"]
    assert [Path(p).name for p in metrics["plots"]] == names
    for name in names:
        path = directory / name
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert 5_000 < path.stat().st_size < 100_000
        assert f"saved {path}" in plain_run["out"]


def test_progress_bar_reports_the_epochs(digits: ModuleType) -> None:
    pytest.importorskip("tqdm", reason="the progress bar is tqdm's")
    _, out, err = run_main(digits, ["--epochs", "1"])
    assert "1/1" in err and "test " in err, err
    assert not re.search(r"^epoch ", out, re.M), out


# ---------------------------------------------------------------------------------------
# Missing optional packages


def test_without_scikit_learn_it_says_what_to_install(digits: ModuleType) -> None:
    hidden = {name: None for name in list(sys.modules) if name.split(".")[0] == "sklearn"}
    with mock.patch.dict(sys.modules, {"sklearn": None, **hidden}):
        with pytest.raises(SystemExit, match=r'scikit-learn.*pip install "fungrad\[examples\]"'):
            run_main(digits, ["--epochs", "1", "--no-progress-bar"])


def test_without_matplotlib_plots_say_what_to_install_before_training(
    digits: ModuleType, tmp_path: Path
) -> None:
    hidden = {name: None for name in list(sys.modules) if name.split(".")[0] == "matplotlib"}
    with mock.patch.dict(sys.modules, {"matplotlib": None, **hidden}):
        with pytest.raises(
            SystemExit, match=r'--plots needs matplotlib.*pip install "fungrad\[examples\]"'
        ):
            run_main(digits, ["--epochs", "50", "--plots", str(tmp_path / "plots")])
    assert not (tmp_path / "plots").exists()


def test_without_tqdm_it_prints_a_line_per_epoch(digits: ModuleType) -> None:
    hidden = {name: None for name in list(sys.modules) if name.split(".")[0] == "tqdm"}
    with mock.patch.dict(sys.modules, {"tqdm": None, **hidden}):
        _, out, err = run_main(digits, ["--epochs", "1"])
    assert re.search(r"^epoch +1/1 +loss", out, re.M), out
    assert "epoch/s" not in err
