"""What a notebook shows, outside a kernel: every plotting helper's figure through IPython's
own display formatter, and the progress line and live curves driven with a display function
that records what it is given (the kernel itself is in test_notebooks.py)."""

from __future__ import annotations

import base64
import io
import sys

import numpy as np
import pytest
from PIL import Image

from mlp import BasicRoutinizer, Model
from mlp.history import History
from mlp.plotting.curves_content import panels
from mlp.plotting.figures import curves_figure, plot_confusion_matrix, plot_first_layer, plot_fit
from mlp.plotting.notebook import NotebookCurves, NotebookProgress, in_kernel
from mlp.sweep.report import SweepResults, TrialResult, params_figure
from mlp.sweep.report import curves_figure as sweep_curves
from mlp.training.diagnostics import PROBE_SIZE, figure, probe
from preprocess import Data

formatters = pytest.importorskip("IPython.core.formatters")


def _history(epochs: int) -> History:
    history = History()
    for e in range(1, epochs + 1):
        history.append(epoch=e, train_loss=1.0 / e, val_loss=1.2 / e, train_accuracy=0.5,
                       val_accuracy=0.6, lr=1e-3, seconds=0.01)
    return history


def _sweep() -> SweepResults:
    trials = [TrialResult(number=i, state="COMPLETE", params={"train.lr": lr},
                          runs=[{"value": 0.1 * (i + 1), "curve": [0.5, 0.3, 0.1 * (i + 1)]}],
                          note="") for i, lr in enumerate([1e-3, 1e-2])]
    return SweepResults(name="s", sweep={"metric": "val_loss", "direction": "minimize",
                                         "space": {"train.lr": {"choice": [1e-3, 1e-2]}}},
                        trials=trials, wall_seconds=1.0)


def _helper_figures() -> dict[str, object]:
    model = Model.mlp([4, 6, 3], seed=0)
    rng = np.random.default_rng(0)
    data = Data(rng.normal(size=(40, 4)), rng.integers(0, 3, 40)).split_validation(0.25)
    history = BasicRoutinizer(epochs=2, progress=False, diagnostics=True).run(model, data)
    probes, _ = probe(model, data.X_train[:PROBE_SIZE])
    return {
        "curves_figure": curves_figure(_history(5)),
        "plot_fit": plot_fit(np.sin, interval=(0.0, 3.0)),
        "plot_confusion_matrix": plot_confusion_matrix([0, 1, 1], [0, 1, 0]),
        "plot_first_layer": plot_first_layer(model, (2, 2)),
        "diagnostics.figure": figure(history, probes),
        "sweep curves_figure": sweep_curves(_sweep()),
        "sweep params_figure": params_figure(_sweep()),
    }


def test_every_plotting_helpers_figure_is_a_png_for_ipython():
    formatter = formatters.DisplayFormatter()
    for name, fig in _helper_figures().items():
        data, _ = formatter.format(fig)
        assert "image/png" in data, name
        picture = Image.open(io.BytesIO(data["image/png"]))
        width, height = fig.get_size_inches() * 100
        # the figure at 100 dpi, cropped to what is drawn (a title wider than the axes included)
        assert 0.5 * width < picture.width < 2 * width, name
        assert 0.5 * height < picture.height < 2 * height, name


def test_a_test_process_is_not_a_kernel():
    assert not in_kernel()
    assert "IPython" in sys.modules  # loaded by the import above, yet with no kernel


class _Handle:
    def __init__(self, shown: list) -> None:
        self.shown = shown

    def update(self, bundle: dict, raw: bool = False) -> None:
        assert raw
        self.shown.append(("update", bundle))


class _Display:
    """Records ``display(bundle, raw=True, display_id=True)`` and the handle's updates."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, dict]] = []

    def __call__(self, bundle: dict, raw: bool = False, display_id: bool = False) -> _Handle:
        assert raw and display_id
        self.shown.append(("display", bundle))
        return _Handle(self.shown)


def _row(epoch: int) -> dict:
    return {"epoch": epoch, "train_loss": 0.5, "val_loss": 0.25, "train_accuracy": 0.75,
            "val_accuracy": 0.875, "lr": 1e-3, "seconds": 0.01}


def test_progress_is_one_display_updated_in_place_at_most_a_few_times_a_second():
    display = _Display()
    progress = NotebookProgress(10, 5000, display=display, widget=False)
    for epoch in range(11, 5001):
        progress.epoch(_row(epoch))
    progress.close()
    kinds = [kind for kind, _ in display.shown]
    assert kinds[0] == "display" and kinds.count("display") == 1
    assert 2 <= kinds.count("update") < 100  # throttled: not one per epoch
    first, last = display.shown[0][1], display.shown[-1][1]
    assert first["text/plain"].startswith("epoch 10/5000")
    assert "epoch 5000/5000" in last["text/plain"] and "in all" in last["text/plain"]
    for part in ("loss 0.5", "val_loss 0.25", "acc 0.7500", "val_acc 0.8750"):
        assert part in last["text/plain"]
    assert '<progress value="5000" max="5000"' in last["text/html"]
    assert any(" left" in bundle["text/plain"] for _, bundle in display.shown[1:-1])


def test_live_curves_are_one_picture_redrawn_by_plot_every_and_the_clock():
    display = _Display()
    curves = NotebookCurves(every=5, title="run", display=display)
    history = History()
    for epoch in range(1, 41):
        history.append(**_row(epoch))
        curves.update(history)
    curves.update(history, final=True, stopped_early_at=40)
    kinds = [kind for kind, _ in display.shown]
    assert kinds[0] == "display" and kinds.count("display") == 1
    assert len(kinds) < 8 + 1  # at most every 5th epoch, and the clock allows fewer
    last = display.shown[-1][1]
    assert last["text/plain"] == "<training curves, epoch 40>"
    picture = Image.open(io.BytesIO(base64.b64decode(last["image/png"])))
    assert picture.width == 460 * len(panels(history))  # the picture of curves.png
