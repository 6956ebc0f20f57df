"""The small training examples do what they print: examples/train_mlp.py reaches the
accuracy it reports and draws its plot, examples/xor.py learns XOR,
examples/per_example_gradients.py's batched gradients match a loop and its clipping
matches the definition, and examples/newton.py converges quadratically to the minimum
of a loss whose gradient and Hessian are known in closed form.

Each example runs through its ``main`` (so its command line is parsed too), with its
printed output checked; the examples that need matplotlib or scikit-learn are skipped
only when that package is absent, and the message they give then is tested."""

from __future__ import annotations

import contextlib
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

import fungrad

INSTALL_HINTS = (
    'python -m pip install "fungrad[examples]"',
    'python -m pip install ".[examples]"',
)


@pytest.fixture(scope="module")
def train_mlp() -> ModuleType:
    return load_example("train_mlp")


@pytest.fixture(scope="module")
def xor() -> ModuleType:
    return load_example("xor")


@pytest.fixture(scope="module")
def xor_run(xor: ModuleType) -> tuple[dict[str, Any], str]:
    """xor.py's default run, once for the module: its metrics and what it printed."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        metrics = xor.main([])
    return metrics, out.getvalue()


@pytest.fixture(scope="module")
def per_example() -> ModuleType:
    return load_example("per_example_gradients")


@pytest.fixture(scope="module")
def newton() -> ModuleType:
    return load_example("newton")


def percent(pattern: str, text: str) -> float:
    match = re.search(pattern + r" (\d+\.\d)%", text)
    assert match, f"no {pattern!r} in the output:\n{text}"
    return float(match[1])


# ---------------------------------------------------------------------------------------
# train_mlp.py


def test_train_mlp_reaches_the_accuracy_it_prints_with_one_compiled_step(
    train_mlp: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = train_mlp.main(["--steps", "120"])
    out = capsys.readouterr().out
    train_accuracy = percent("final train accuracy", out)
    test_accuracy = percent("test accuracy", out)
    assert train_accuracy > 90.0 and test_accuracy > 90.0, out
    assert train_accuracy == pytest.approx(100 * metrics["train_accuracy"], abs=0.05)
    losses = [float(m) for m in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) == 11 and losses[-1] < losses[0] / 10, out
    assert metrics["traces"] == 1  # params and Adam's state keep their signature


def test_train_mlp_step_is_adam_on_the_gradient(train_mlp: ModuleType) -> None:
    """One compiled step equals Adam's first update written out: -lr * g / (|g| + eps)."""
    rng = np.random.default_rng(1)
    inputs, labels = train_mlp.spirals(rng, points_per_class=5)
    params = fungrad.nn.init_mlp(rng, [2, 4, 3])
    optimizer = fungrad.optim.adam(0.01)
    new_params, _, loss = train_mlp.make_train_step(optimizer)(
        params, optimizer.init(params), inputs, labels
    )
    grads = fungrad.grad(train_mlp.loss_fn)(params, inputs, labels)
    assert float(loss) == pytest.approx(float(train_mlp.loss_fn(params, inputs, labels)))
    for layer, new_layer, grad in zip(params, new_params, grads):
        for name in ("w", "b"):
            want = layer[name] - 0.01 * grad[name] / (np.abs(grad[name]) + 1e-8)
            np.testing.assert_allclose(new_layer[name], want, rtol=1e-12, atol=1e-15)


def test_train_mlp_plot_writes_a_png_and_prints_its_path(
    train_mlp: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    matplotlib = pytest.importorskip("matplotlib", reason="--plot draws with matplotlib")
    path = tmp_path / "regions.png"
    metrics = train_mlp.main(["--steps", "30", "--plot", str(path)])
    out = capsys.readouterr().out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000  # a picture, not an empty canvas
    assert f"wrote {path}" in out and metrics["plot"] == str(path)
    assert matplotlib.get_backend().lower() == "agg"  # files only: no window can open


def test_train_mlp_plot_without_matplotlib_says_how_to_install_it_before_training(
    train_mlp: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with mock.patch.dict(sys.modules, {"matplotlib": None}):  # import matplotlib fails
        with pytest.raises(SystemExit) as exit_info:
            train_mlp.main(["--steps", "5", "--plot", str(tmp_path / "x.png")])
    message = str(exit_info.value.code)
    assert message.startswith("--plot needs matplotlib, which is not installed")
    assert all(hint in message for hint in INSTALL_HINTS), message
    assert capsys.readouterr().out == ""  # it stopped before training
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------------------
# xor.py

TRUTH_ROW = re.compile(r"^ *([01]) +([01]) +([01]) +(\d\.\d{3}) +([01])$", re.MULTILINE)


def test_xor_prints_the_learned_truth_table(xor_run: tuple[dict[str, Any], str]) -> None:
    metrics, out = xor_run
    rows = TRUTH_ROW.findall(out)
    assert [(int(a), int(b)) for a, b, *_ in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)], out
    for x1, x2, target, probability, prediction in rows:
        assert int(target) == int(x1) ^ int(x2)
        assert int(prediction) == int(target), out
        assert abs(float(probability) - int(target)) < 0.05, out
    assert metrics["accuracy"] == 1.0 and metrics["losses"][-1] < 0.01


def test_xor_hidden_representation_is_linearly_separable(
    xor: ModuleType, xor_run: tuple[dict[str, Any], str]
) -> None:
    metrics, out = xor_run
    hidden_rows = re.findall(
        r"^ *[01] +[01] +[01]((?: +-?\d\.\d{3}){3}) +(-?\d+\.\d{3})$", out, re.M
    )
    assert len(hidden_rows) == 4, out
    hidden = np.array([[float(v) for v in row.split()] for row, _ in hidden_rows])
    assert np.all(np.abs(hidden) <= 1.0)  # tanh units
    np.testing.assert_allclose(hidden, metrics["hidden"], atol=5e-4)
    # A plane separates the classes in the hidden space (z > 0 exactly for class 1)...
    z = np.array([float(value) for _, value in hidden_rows])
    assert np.array_equal(z > 0, xor.TARGETS == 1), out
    assert "separates the classes: yes" in out
    # ...while in the input space no line does: for any w, b the two classes' sums of
    # w.x + b are equal ((0,1) + (1,0) = (0,0) + (1,1)), so their signs cannot all differ.
    assert np.array_equal(xor.INPUTS[1] + xor.INPUTS[2], xor.INPUTS[0] + xor.INPUTS[3])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_xor_learns_from_other_seeds_too(
    xor: ModuleType, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    metrics = xor.main(["--seed", str(seed)])
    capsys.readouterr()
    np.testing.assert_array_equal(metrics["predictions"], xor.TARGETS)


# ---------------------------------------------------------------------------------------
# per_example_gradients.py


def test_per_example_gradients_match_the_loop_and_training_improves(
    per_example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = per_example.main(["--batch", "64", "--steps", "60"])
    out = capsys.readouterr().out
    printed = re.search(r"max \|vmap - loop\| over all entries: (\S+)", out)
    assert printed and float(printed[1]) < 1e-12, out
    printed = re.search(r"max \|mean of per-example - grad of mean loss\|: (\S+)", out)
    assert printed and float(printed[1]) < 1e-12, out
    stats = re.search(r"min (\S+), median (\S+), mean (\S+), max (\S+);", out)
    assert stats, out
    norms = metrics["norms"]
    assert [float(v) for v in stats.groups()] == pytest.approx(
        [norms.min(), np.median(norms), norms.mean(), norms.max()], abs=6e-4
    )
    losses = [float(m) for m in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) == 6 and losses[-1] < 0.6 * losses[0], out
    assert percent("training accuracy after 60 noisy steps:", out) > 80.0
    assert metrics["traces"] == 1


def test_per_example_clipping_and_noise_follow_the_definition(per_example: ModuleType) -> None:
    rng = np.random.default_rng(5)
    inputs, labels = per_example.two_moons(rng, 12)
    params = fungrad.nn.init_mlp(rng, [2, 5, 2])
    looped = per_example.loop_gradients(params, inputs, labels)
    leaves, treedef = fungrad.tree_util.tree_flatten(looped)
    flat = np.concatenate([leaf.reshape(12, -1) for leaf in leaves], axis=1)  # one row each
    norms = np.linalg.norm(flat, axis=1)
    clip = float(np.median(norms))  # about half of the examples are clipped
    want = np.mean(flat * np.minimum(1.0, clip / norms)[:, None], axis=0)

    noise = fungrad.tree_util.tree_map(lambda p: rng.standard_normal(p.shape), params)
    flat_noise = np.concatenate([leaf.ravel() for leaf in fungrad.tree_util.tree_leaves(noise)])
    got, got_norms = per_example.private_gradient(params, inputs, labels, noise, clip)
    got_flat = np.concatenate([leaf.ravel() for leaf in fungrad.tree_util.tree_leaves(got)])
    np.testing.assert_allclose(got_norms, norms, rtol=1e-12)
    np.testing.assert_allclose(got_flat, want + flat_noise / 12, rtol=1e-10, atol=1e-14)
    assert fungrad.tree_util.tree_structure(got) == treedef  # the parameters' structure


# ---------------------------------------------------------------------------------------
# newton.py

NORM_ROW = re.compile(r"^ *(gradient|Newton) +\d+ +loss \S+ +\|gradient\| (\S+)$", re.MULTILINE)


def test_newton_converges_quadratically_after_linear_gradient_descent(
    newton: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sklearn", reason="newton.py loads scikit-learn's breast-cancer set")
    newton.main(["--gd-steps", "10"])
    out = capsys.readouterr().out
    rows = NORM_ROW.findall(out)
    gd = [float(norm) for method, norm in rows if method == "gradient"]
    newton_norms = [float(norm) for method, norm in rows if method == "Newton"]
    assert len(gd) == 10 and newton_norms[-1] < 1e-12, out
    # Gradient descent: at best linear, the last steps each remove less than 20%.
    assert all(0.8 < b / a < 1.0 for a, b in zip(gd[-4:], gd[-3:])), gd
    # Newton, once close: the next norm is at most C * norm^2 (C is about 100 here), so
    # the factor by which a step shrinks the norm itself shrinks each time (the digits
    # double), down to rounding level. At least three such steps are seen.
    close = [(a, b) for a, b in zip(newton_norms, newton_norms[1:]) if a < 1e-3 and b > 1e-14]
    assert len(close) >= 3, newton_norms
    assert all(b < 300 * a**2 for a, b in close), newton_norms
    factors = [b / a for a, b in close]
    assert all(later < 0.1 * earlier for earlier, later in zip(factors, factors[1:])), factors
    assert percent("training accuracy", out) > 95.0
    assert f"final gradient norm {newton_norms[-1]:.1e}" in out


def test_newton_gradient_and_hessian_are_the_closed_forms(newton: ModuleType) -> None:
    """For the logistic loss, g = X^T (p - y) / n + l2 w and H = X^T diag(p (1-p)) X / n
    + l2 (identity without the bias): fungrad's derivatives at a random point."""
    rng = np.random.default_rng(0)
    inputs = np.concatenate([rng.standard_normal((40, 4)), np.ones((40, 1))], axis=1)
    labels = (rng.random(40) < 0.5).astype(np.float64)
    theta, l2 = rng.standard_normal(5), 0.1
    p = 1.0 / (1.0 + np.exp(-inputs @ theta))
    penalty = l2 * np.diag([1.0, 1.0, 1.0, 1.0, 0.0])
    want_grad = inputs.T @ (p - labels) / 40 + penalty @ theta
    want_hessian = inputs.T @ (p * (1 - p) * inputs.T).T / 40 + penalty
    got_grad = fungrad.grad(newton.loss_fn)(theta, inputs, labels, l2)
    got_hessian = fungrad.hessian(newton.loss_fn)(theta, inputs, labels, l2)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got_hessian, want_hessian, rtol=1e-12, atol=1e-15)


def test_newton_without_scikit_learn_says_how_to_install_it(newton: ModuleType) -> None:
    # An earlier import left sklearn.datasets in sys.modules, which Python would reuse.
    with mock.patch.dict(sys.modules, {"sklearn": None, "sklearn.datasets": None}):
        with pytest.raises(SystemExit) as exit_info:
            newton.main([])
    message = str(exit_info.value.code)
    assert message.startswith("newton.py needs scikit-learn, which is not installed")
    assert all(hint in message for hint in INSTALL_HINTS), message
