"""Draw the pictures of the digits tutorial (docs/tutorial_mlp.md) into docs/images/.

    python tools/mlp_figures.py              # rewrite docs/images/digits_*.png
    python tools/mlp_figures.py --output D   # write them into the folder D

Both come from one full run of examples/digits.py (30 epochs, seed 0), made with the
example's own functions (``load_data``, ``train``, ``predict``, ``confusion_matrix``):

- digits_curves.png: the loss (log scale) and the accuracy on the training and the test
  images after each epoch, side by side.
- digits_confusion.png: the confusion matrix on the 360 test images, drawn by the
  example's ``save_plots``, as ``python examples/digits.py --plots DIR`` draws it.

The split, the initialisation and the shuffling have fixed seeds and BLAS runs on one
thread, so the sums are done in one order: running this again, with the same NumPy and
matplotlib, gives the same files. It needs scikit-learn and matplotlib, which come with
``python -m pip install "fungrad[examples]"``.
"""

# ruff: noqa: E402  (the thread settings below must come before NumPy is imported)

from __future__ import annotations

import os

# One BLAS thread, whatever the environment says: another thread count may split the
# matrix products differently, and the last bits of the run with them.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = 0
DPI = 90
INSTALL = 'python -m pip install "fungrad[examples]"'


def load_digits_example() -> ModuleType:
    """examples/digits.py as a module (it is a script, not part of a package)."""
    path = ROOT / "examples" / "digits.py"
    spec = importlib.util.spec_from_file_location("digits_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def draw_curves(digits: ModuleType, history: dict[str, list[float]], path: Path) -> None:
    """The loss and the accuracy after each epoch, training and test images, in one PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    loss_ax, accuracy_ax = fig.subplots(1, 2)
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    for split, colour, style in (("train", digits.BLUE, "-"), ("test", digits.ORANGE, "--")):
        line = {"color": colour, "marker": "o", "markersize": 3, "label": split}
        loss_ax.plot(epochs, history[f"{split}_loss"], style, **line)
        accuracy_ax.plot(epochs, 100 * np.asarray(history[f"{split}_accuracy"]), style, **line)
    loss_ax.set_yscale("log")
    loss_ax.set_ylabel("mean cross-entropy (log scale)")
    final = history["test_accuracy"][-1]
    accuracy_ax.axhline(
        100 * final, color="0.6", linewidth=0.8, zorder=0, label=f"final test {final:.1%}"
    )
    lowest = min(history["train_accuracy"] + history["test_accuracy"])
    accuracy_ax.set_ylim(max(0.0, 100 * lowest - 2), 100.5)
    accuracy_ax.set_ylabel("accuracy (%)")
    for ax, title in ((loss_ax, "loss"), (accuracy_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(title="images")
    sizes = "-".join(map(str, digits.SIZES))
    fig.suptitle(f"Digits MLP {sizes}, Adam with cosine decay: after each epoch")
    fig.savefig(path, dpi=DPI)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images")
    folder = parser.parse_args(argv).output
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(f"tools/mlp_figures.py needs matplotlib: {INSTALL}") from None
    matplotlib.use("Agg")  # files only, no window

    digits = load_digits_example()
    data = digits.load_data()
    params, history, _ = digits.train(data, seed=SEED, progress_bar=False)
    _, _, test_x, test_y = data
    counts = digits.confusion_matrix(test_y, digits.predict(params, test_x))

    folder.mkdir(parents=True, exist_ok=True)
    draw_curves(digits, history, folder / "digits_curves.png")
    print(folder / "digits_curves.png")
    with tempfile.TemporaryDirectory() as scratch:  # save_plots draws all three pictures
        drawn = digits.save_plots(history, counts, Path(scratch), dpi=DPI)
        confusion = next(p for p in drawn if p.name == "digits_confusion.png")
        shutil.copyfile(confusion, folder / "digits_confusion.png")
    print(folder / "digits_confusion.png")


if __name__ == "__main__":
    main()
