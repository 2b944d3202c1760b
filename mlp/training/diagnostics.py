"""Training diagnostics: per-layer statistics each epoch, and warnings that name a fix.

With ``BasicRoutinizer(diagnostics=True)`` (``mlp train --diagnose``) the routinizer makes a
``Diagnostics`` recorder for each ``run`` and calls it at three points: ``start`` before the
first epoch, ``after_update`` after every optimizer step, ``end_epoch`` once an epoch's row
is in the History (before the checkpoint is written). The recorder adds, per module with
parameters ``k`` (a Layer, a BatchNorm1d, a LayerNorm, a user's module; counting from 1) and
per epoch, the History columns ``layer<k>.<stat>``, ``W`` being the module's first
parameter (a Layer's ``weight``, a normalisation's scale):

``weight_norm``   ||W|| (Frobenius) at the end of the epoch;
``grad_norm``     the mean over the epoch's steps of ||dL/dW||, as applied (after clipping);
``update_ratio``  ||W_end - W_start|| / ||W_start|| over the epoch;
``step_ratio``    ||dW|| / ||W|| of one update (the epoch's first), the quantity CS231n
                  suggests keeping near 1e-3;
``dead``          for a module followed by ReLU (before any other module with parameters):
                  the fraction of its units that are zero for every sample of the probe
                  batch (NaN otherwise);
``saturated``     for a module followed by sigmoid or tanh: the fraction of its outputs on the
                  probe batch within 1% of the limits (sigmoid below 0.01 or above 0.99,
                  tanh beyond +-0.99; NaN otherwise);
``pre_mean``, ``pre_std``  mean and standard deviation of the module's outputs (the
                  pre-activations) on the probe batch, in evaluation mode;

and, for the whole model: ``steps``, the updates of the epoch; ``predicted_share``, the
share of the validation samples (the probe samples without a validation split) predicted
as the most predicted class; ``collapsed_class``, that class when the predictions have
collapsed onto it (``predicted_share`` at least ``COLLAPSE_SHARE`` while fewer than half of
the samples belong to it), else -1 (both NaN for regression). The probe batch is the first
``min(N, 256)`` training rows, so choosing it draws nothing from the run's generator and a
resumed run records the same numbers. Warnings are logged once per run and condition
through the ``mlp`` logger and kept in ``History.diagnostic_warnings`` (saved in
checkpoints), so a resumed run does not repeat them. ``diagnose`` (``mlp diagnose RUN``)
prints the last epoch's table and writes ``diagnostics.png``.

Off by default; when off, the training loop does one ``is not None`` test per step and nothing
else. Each warning is one line that says what to try. The conditions and their thresholds:

- dead units: a ReLU layer has at least 50% dead units;
- collapsed predictions: at least 95% of the validation samples (probe samples without
  validation data) get one class that fewer than half of them have, two epochs running (the seed
  report's network answered one class for 119 of 120 images);
- vanishing or exploding gradients: layer 1's gradient norm over the last layer's is below 1e-3
  or above 1e3 (healthy runs, the shipped configs and the accuracy tests, stay within
  0.0066-2.1; ten sigmoid layers give 3e-6);
- update ratio: one update's ||dW||/||W|| is above 0.25 in some layer (lr too high), or below
  1e-6 in every layer in each of the first 3 epochs (lr too low); healthy runs reach at most
  0.051 (Adam's first steps move each weight by about lr), Adam with lr 1.0 reaches 2-4;
- stalled loss: the training loss moved by less than 0.1% over the last 10 epochs and at least
  200 updates, and is still above half of epoch 1's (the sin config rests on a plateau at 0.400
  for about 20 steps near step 300, then falls to 0.003).

``diagnostics.png`` has two rows: over the epochs, each layer's gradient norm and update ratio
(log scale) and its dead fraction; then one histogram per Layer of the last epoch's
pre-activations on the probe batch, with a line at 0 for ReLU layers. ``mlp diagnose`` on a run
trained without ``--diagnose`` still prints the probe statistics of the last checkpoint and
draws the histograms, and says that the curves need ``--diagnose``. A worked example, the seed
report's failure and its fix, is in ``scripts/diagnose_seed.py``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mlp.history import History
from mlp.nn import sparse
from mlp.nn.model import Model
from mlp.nn.module import Module
from mlp.storage.run_folder import RunFolder
from mlp.training.checkpoint import load_checkpoint

if TYPE_CHECKING:
    from preprocess import Data

log = logging.getLogger("mlp")

PROBE_SIZE = 256
#: per-layer statistics, in the order of the table and the History columns
LAYER_STATS = ("weight_norm", "grad_norm", "update_ratio", "step_ratio", "dead", "saturated",
               "pre_mean", "pre_std")
COLLAPSED, SHARE, STEPS = "collapsed_class", "predicted_share", "steps"

#: a ReLU layer with at least this fraction of dead units is reported
DEAD_FRACTION = 0.5
#: first layer's gradient norm over the last layer's: below VANISHING or above EXPLODING is
#: reported. A sigmoid's derivative is at most 1/4, so ten sigmoid layers can shrink a
#: gradient by 4**9 ~ 3e5; healthy networks (the shipped configs, the accuracy tests) stay
#: within 0.02-30, so 1e-3 and 1e3 leave two orders of magnitude either side.
VANISHING, EXPLODING = 1e-3, 1e3
#: one update's ||dW|| / ||W||, largest over the layers: above STEP_HIGH the learning rate
#: is too high, below STEP_LOW (in each of the first epochs, every layer) too low. CS231n's
#: rule of thumb is ~1e-3; Adam's first updates move each weight by ~lr, so a healthy
#: small network (sin: 1-30-20-1, lr 0.01) reaches ~0.05; the thresholds sit a factor
#: ~5 outside what the shipped configs and the accuracy tests show.
STEP_HIGH, STEP_LOW, STEP_LOW_EPOCHS = 0.25, 1e-6, 3
#: the training loss has stalled when, over the last STALL_EPOCHS epochs and at least
#: STALL_STEPS updates, it moved by less than STALL_SPREAD of its value while still above
#: STALL_PROGRESS of epoch 1's. Counting updates too keeps the plateaus a full-batch fit
#: crosses on its way from being reported: the sin config's loss rests at 0.400 (within
#: 0.1% for 10 steps, 0.2% for 20) around step 300, and then falls to 0.003.
STALL_EPOCHS, STALL_STEPS, STALL_SPREAD, STALL_PROGRESS = 10, 200, 1e-3, 0.5
#: the predictions have collapsed when this share of the samples is predicted as one class
#: (the seed report's network answered one class for 119 of 120 images), and that is
#: reported after this many consecutive epochs on the same class
COLLAPSE_SHARE, COLLAPSE_EPOCHS = 0.95, 2

def column(k: int, stat: str) -> str:
    """The History column of a layer's statistic.

    Parameters
    ----------
    k : int
        The parametric module, counting from 1.
    stat : str
        The statistic (``grad_norm``, ``update_ratio``, ``dead``, ...).

    Returns
    -------
    str
    """
    return f"layer{k}.{stat}"


@dataclass
class LayerProbe:
    """One parametric module's statistics on the probe batch, with its outputs.

    Parameters
    ----------
    activation : str or None
        The kind of the activation that follows the module, if any.
    pre : ndarray
        The module's outputs on the probe batch (the activation's inputs).
    dead : float
        The fraction of units the activation leaves dead on the probe batch.
    saturated : float
        The fraction of saturated units.
    """

    activation: str | None
    pre: np.ndarray
    dead: float
    saturated: float


def parametric(model: Model) -> list[tuple[int, Module]]:
    """The modules with parameters, the rows of the diagnostics.

    Parameters
    ----------
    model : Model

    Returns
    -------
    list of tuple
        ``(index in model.modules, module)``.
    """
    return [(i, m) for i, m in enumerate(model.modules) if m.parameter_shapes()]


def first_parameter(module: Module) -> np.ndarray:
    """The module's first parameter (``W`` of the statistics).

    Parameters
    ----------
    module : Module

    Returns
    -------
    ndarray
    """
    return next(iter(module.parameters().values()))[0]


def probe(model: Model, X: np.ndarray) -> tuple[list[LayerProbe], np.ndarray]:
    """Run a batch through a model in evaluation mode, observing each module's output.

    Parameters
    ----------
    model : Model
    X : ndarray
        The probe batch ``(N, D)``.

    Returns
    -------
    probes : list of LayerProbe
        One per parametric module (its activation is the first module after it, before
        the next parametric one, that reports ``activation_stats``).
    outputs : ndarray
        The model's outputs ``(N, out)``.
    """
    outputs: dict[int, np.ndarray] = {}
    out = model.forward_modules(model.check_input(X),
                                observe=lambda i, _, y: outputs.__setitem__(i, y))
    rows = parametric(model)
    found = []
    for k, (index, _) in enumerate(rows):
        stop = rows[k + 1][0] if k + 1 < len(rows) else len(model.modules)
        pre = outputs[index]
        stats = next((s for s in (m.activation_stats(pre)
                                  for m in model.modules[index + 1:stop]) if s is not None),
                     (None, math.nan, math.nan))
        found.append(LayerProbe(stats[0], pre, stats[1], stats[2]))
    return found, out


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """Class indices of outputs: argmax, or ``output > 0`` for a single output.

    Parameters
    ----------
    outputs : ndarray
        ``(N, out)``.

    Returns
    -------
    ndarray
        ``(N,)``.
    """
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0).astype(np.int64)
    return outputs.argmax(axis=1)


class Diagnostics:
    """Records the per-layer statistics of one ``run`` into its History and warns.

    Parameters
    ----------
    history : History
        Where the columns go.
    classification : bool
        Whether collapsed predictions are looked for.
    lr : float
        Quoted in the learning-rate warning.
    optimizer : str
        Quoted in the learning-rate warning.
    """

    def __init__(self, history: History, *, classification: bool, lr: float,
                 optimizer: str) -> None:
        self.history = history
        self.classification = classification
        self.lr, self.optimizer = lr, optimizer
        self._layers: list[Module] = []
        self._weights: list[np.ndarray] = []
        self._grads: list[np.ndarray] = []
        self._start: list[np.ndarray] = []
        self._scratch: list[np.ndarray] = []
        self._grad_sum = np.zeros(0)
        self._step_ratio: list[float] = []
        self._steps = 0
        self._probe: np.ndarray | None = None

    # ------------------------------------------------------------------- hooks
    def start(self, model: Model, data: Data) -> None:
        """Fix the probe batch (the first training rows) and keep the starting weights.

        Parameters
        ----------
        model : Model
            The packed model being trained.
        data : Data
            The training data.
        """
        self._layers = [module for _, module in parametric(model)]
        first = [next(iter(m.parameters().values())) for m in self._layers]
        self._weights = [value.reshape(-1) for value, _ in first]
        self._grads = [grad.reshape(-1) for _, grad in first]
        self._start = [w.copy() for w in self._weights]
        self._scratch = [np.empty_like(w) for w in self._weights]
        self._grad_sum = np.zeros(len(self._layers))
        self._step_ratio = [math.nan] * len(self._layers)
        self._steps = 0
        rows = data.X_train[:PROBE_SIZE]  # CSR rows stay sparse (mlp.nn.sparse)
        self._probe = (model.check_input(rows) if sparse.is_sparse(rows)
                       else np.array(rows, dtype=model.dtype))

    def after_update(self) -> None:
        """Add each layer's gradient norm (one dot product each); after an epoch's first
        update, measure that update's size against the weights."""
        grad_sum = self._grad_sum
        for k, grad in enumerate(self._grads):
            grad_sum[k] += math.sqrt(float(np.dot(grad, grad)))
        self._steps += 1
        if self._steps == 1:
            self._step_ratio = [self._distance(k) for k in range(len(self._weights))]

    def end_epoch(self, model: Model, data: Data, row: dict[str, Any]) -> dict[str, float]:
        """Record this epoch's columns and log the warnings that newly apply.

        The weights are then taken as the next epoch's start.

        Parameters
        ----------
        model : Model
        data : Data
        row : dict
            The epoch's History row so far.

        Returns
        -------
        dict of str to float
            The columns recorded.
        """
        probes, outputs = probe(model, cast(np.ndarray, self._probe))  # set by start
        values: dict[str, float] = {}
        for k, (weight, found) in enumerate(zip(self._weights, probes, strict=True), start=1):
            start_norm = _norm(self._start[k - 1])
            values[column(k, "weight_norm")] = _norm(weight)
            values[column(k, "grad_norm")] = (float(self._grad_sum[k - 1]) / self._steps
                                              if self._steps else math.nan)
            values[column(k, "update_ratio")] = self._distance(k - 1, start_norm)
            values[column(k, "step_ratio")] = self._step_ratio[k - 1]
            values[column(k, "dead")] = found.dead
            values[column(k, "saturated")] = found.saturated
            values[column(k, "pre_mean")] = float(found.pre.mean(dtype=np.float64))
            values[column(k, "pre_std")] = float(found.pre.std(dtype=np.float64))
        values[SHARE], values[COLLAPSED] = self._collapsed(model, data, outputs)
        values[STEPS] = float(self._steps)
        self._record(values)
        for k, weight in enumerate(self._weights):
            np.copyto(self._start[k], weight)
        self._grad_sum[:] = 0.0
        self._steps = 0
        self._step_ratio = [math.nan] * len(self._weights)
        self._warn(model, int(row["epoch"]))
        return values

    # ----------------------------------------------------------------- helpers
    def _distance(self, k: int, start_norm: float | None = None) -> float:
        """||W_k - W_k(start)|| / ||W_k(start)||."""
        scratch = self._scratch[k]
        np.subtract(self._weights[k], self._start[k], out=scratch)
        start_norm = _norm(self._start[k]) if start_norm is None else start_norm
        return _norm(scratch) / start_norm if start_norm > 0 else math.nan

    def _collapsed(self, model: Model, data: Data, probe_outputs: np.ndarray
                   ) -> tuple[float, float]:
        """(``predicted_share``, ``collapsed_class``) of this epoch."""
        if not self.classification:
            return math.nan, math.nan
        if data.X_val is not None:
            outputs, labels = model.predict_logits(data.X_val), np.asarray(data.y_val)
        else:
            outputs, labels = probe_outputs, np.asarray(data.y_train[:PROBE_SIZE])
        if labels.ndim == 2:
            labels = labels.argmax(axis=1)
        predicted = predicted_classes(outputs)
        counts = np.bincount(predicted)
        top = int(counts.argmax())
        share = float(counts[top]) / predicted.size
        truly = float(np.count_nonzero(labels == top)) / labels.size
        collapsed = predicted.size > 1 and share >= COLLAPSE_SHARE and truly < 0.5
        return share, float(top) if collapsed else -1.0

    def _record(self, values: dict[str, float]) -> None:
        columns = self.history.diagnostics
        epochs = len(self.history)
        for name, value in values.items():
            series = columns.setdefault(name, [])
            series.extend([math.nan] * (epochs - 1 - len(series)))  # epochs trained without
            series.append(value)

    def _warn(self, model: Model, epoch: int) -> None:
        for key, message in self._conditions(model):
            if key not in self.history.diagnostic_warnings:
                text = f"epoch {epoch}: {message}"
                self.history.diagnostic_warnings[key] = text
                log.warning("%s", text)

    def _conditions(self, model: Model) -> list[tuple[str, str]]:
        """(key, message) of every condition that holds after the latest epoch."""
        history, columns = self.history, self.history.diagnostics
        found: list[tuple[str, str]] = []
        layers = [module for _, module in parametric(model)]
        for k, layer in enumerate(layers, start=1):
            dead = columns[column(k, "dead")][-1]
            if dead >= DEAD_FRACTION:
                found.append((f"dead_units.layer{k}", dead_message(k, layer, dead, self.lr)))
        grads = [columns[column(k, "grad_norm")][-1] for k in (1, len(layers))]
        # a zero gradient is no ratio: an all-dead layer (warned above) or a loss at zero
        if len(layers) > 1 and all(math.isfinite(g) and g > 0 for g in grads):
            ratio = grads[0] / grads[1]
            if ratio < VANISHING:
                found.append(("vanishing_gradients", (
                    f"vanishing gradients: layer 1's gradient norm is {ratio:.1e} of layer "
                    f"{len(layers)}'s, so the first layers barely learn; try relu/leaky_relu "
                    "instead of sigmoid/tanh, init='he' or 'xavier', or fewer layers")))
            elif ratio > EXPLODING:
                found.append(("exploding_gradients", (
                    f"exploding gradients: layer 1's gradient norm is {ratio:.1e} times layer "
                    f"{len(layers)}'s; try a smaller init_scale, a lower lr, or grad_clip")))
        found += self._step_conditions(len(layers))
        collapsed = columns[COLLAPSED]
        if len(collapsed) >= COLLAPSE_EPOCHS and collapsed[-1] >= 0 and all(
                c == collapsed[-1] for c in collapsed[-COLLAPSE_EPOCHS:]):
            since = len(collapsed)
            while since > 1 and collapsed[since - 2] == collapsed[-1]:
                since -= 1
            where = "validation" if history.val_loss and history.val_loss[-1] is not None \
                else "probe"
            share = columns[SHARE][-1]
            who = (f"every {where} sample has" if share == 1.0
                   else f"{share:.0%} of the {where} samples have")
            found.append(("collapsed_predictions", (
                f"{who} been predicted as class {int(collapsed[-1])} "
                f"since epoch {history.epoch[since - 1]}: the network ignores its input; look "
                "at the dead-unit and gradient columns (mlp diagnose), try init='he', a "
                "smaller init_scale or a lower lr")))
        losses, window = history.train_loss, self._stall_window()
        if window:
            recent = losses[-window:]
            middle = sum(recent) / len(recent)
            if (abs(middle) > 0 and (max(recent) - min(recent)) < STALL_SPREAD * abs(middle)
                    and min(recent) > STALL_PROGRESS * losses[0]):
                found.append(("stalled_loss", (
                    f"the training loss has stayed at {middle:.4g} (within "
                    f"{STALL_SPREAD:.1%}) for {window} epochs, still "
                    f"{min(recent) / losses[0]:.0%} of epoch 1's: the network is not "
                    "learning; try a higher lr, another init, or check the labels")))
        return found

    def _stall_window(self) -> int:
        """The trailing epochs that hold STALL_EPOCHS epochs and STALL_STEPS updates (0
        when the run is not that long yet)."""
        steps = self.history.diagnostics[STEPS]
        total = 0.0
        for window in range(1, len(steps) + 1):
            total += steps[-window] if math.isfinite(steps[-window]) else 0.0
            if window >= STALL_EPOCHS and total >= STALL_STEPS:
                return window
        return 0

    def _step_conditions(self, n_layers: int) -> list[tuple[str, str]]:
        columns = self.history.diagnostics
        latest = [columns[column(k, "step_ratio")][-1] for k in range(1, n_layers + 1)]
        if any(math.isfinite(r) for r in latest):
            k, largest = max(((k, r) for k, r in enumerate(latest, start=1)
                              if math.isfinite(r)), key=lambda item: item[1])
            if largest > STEP_HIGH:
                return [("update_ratio_high", (
                    f"one update changes layer {k}'s weights by {largest:.2g} of their norm "
                    f"(about 1e-3 is healthy): lr {self.lr:g} ({self.optimizer}) is too high; "
                    "try a lr 10-100 times lower"))]
        early = [[columns[column(k, "step_ratio")][e] for k in range(1, n_layers + 1)]
                 for e in range(min(len(self.history), STEP_LOW_EPOCHS))]
        if len(early) == STEP_LOW_EPOCHS and all(
                math.isfinite(r) and r < STEP_LOW for epoch in early for r in epoch):
            largest = max(r for epoch in early for r in epoch)
            return [("update_ratio_low", (
                f"in the first {STEP_LOW_EPOCHS} epochs no update changed any layer's weights "
                f"by more than {largest:.1e} of their norm (about 1e-3 is healthy): lr "
                f"{self.lr:g} ({self.optimizer}) is too low; try a lr 10-100 times higher"))]
        return []


def dead_message(k: int, layer: Module, dead: float, lr: float) -> str:
    """The dead-unit warning for a module.

    It quotes what sets the module's initial scale (when it has an ``init``): with He's
    initialisation at its own scale the learning rate is the likelier cause.

    Parameters
    ----------
    k : int
        The parametric module, counting from 1.
    layer : Module
    dead : float
        Its fraction of dead units.
    lr : float
        The learning rate.

    Returns
    -------
    str
    """
    init, init_scale = getattr(layer, "init", None), getattr(layer, "init_scale", None)
    scale = "none" if init_scale is None else f"{init_scale:g}"
    inputs = layer.input_features()
    head = f"layer {k}: {dead:.0%} of ReLU units are dead on the probe batch; "
    if init is None or (init == "he" and (init_scale is None or init_scale <= 1.0)):
        return head + (f"with init '{init or 'fixed'}' (init_scale {scale}) for {inputs} "
                       f"inputs the updates likely pushed them there: try a lower lr than "
                       f"{lr:g}, or leaky_relu")
    return head + (f"the initial weights may be too large for {inputs} inputs "
                   f"(init '{init}', init_scale {scale}): try init='he' or a smaller "
                   "init_scale")


def _norm(array: np.ndarray) -> float:
    flat = array.reshape(-1)
    return math.sqrt(float(np.dot(flat, flat)))


# ------------------------------------------------------------------------- reporting
def layer_table(model: Model, history: History, probes: list[LayerProbe]) -> str:
    """The per-layer table of ``mlp diagnose``.

    Parameters
    ----------
    model : Model
    history : History
        The run's History with its diagnostics columns.
    probes : list of LayerProbe
        The probe statistics (``probe``).

    Returns
    -------
    str
        One row per module with parameters: its kind and shape, activation and the last
        epoch's statistics.
    """
    columns = history.diagnostics
    header = ["layer", "module", "shape", "activation", "weight_norm", "grad_norm",
              "update_ratio", "step_ratio", "dead", "saturated", "pre_mean", "pre_std"]
    rows = [header]
    for k, ((_, layer), found) in enumerate(zip(parametric(model), probes, strict=True),
                                            start=1):
        recorded = {stat: (columns.get(column(k, stat)) or [math.nan])[-1]
                    for stat in ("weight_norm", "grad_norm", "update_ratio", "step_ratio")}
        weight = first_parameter(layer)
        recorded["weight_norm"] = _norm(weight)
        cells = [str(k), type(layer).__name__, "x".join(str(n) for n in weight.shape),
                 found.activation or "-"]
        cells += [_cell(recorded[s]) for s in ("weight_norm", "grad_norm", "update_ratio",
                                              "step_ratio")]
        cells += [_cell(found.dead, percent=True), _cell(found.saturated, percent=True),
                  _cell(float(found.pre.mean(dtype=np.float64))),
                  _cell(float(found.pre.std(dtype=np.float64)))]
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) if i > 3 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                     for r in rows)


def _cell(value: float, percent: bool = False) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.1%}" if percent else f"{value:.3g}"


def save_figure(history: History, probes: list[LayerProbe], path: str | Path,
                title: str = "") -> Path:
    """Write ``figure(history, probes, title)`` as a PNG.

    Parameters
    ----------
    history : History
    probes : list of LayerProbe
    path : str or Path
        The PNG file.
    title : str, default ""

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    figure(history, probes, title).savefig(path, dpi=100)
    return path


def figure(history: History, probes: list[LayerProbe], title: str = "") -> Any:
    """The figure of ``diagnostics.png``.

    Per-layer gradient norm, update ratio and dead (or saturated) fraction over the epochs
    on the top row, and a histogram of each Layer's pre-activations on the probe batch
    below.

    Parameters
    ----------
    history : History
    probes : list of LayerProbe
    title : str, default ""

    Returns
    -------
    InlineFigure
        Drawn off-screen whatever the backend, shown as a picture in a notebook.
    """
    import matplotlib

    from mlp.plotting.figures import plain_log_axis
    from mlp.plotting.inline import InlineFigure

    n_layers = len(probes)
    columns = history.diagnostics
    epochs = history.epoch
    width = max(3, min(n_layers, 6))
    hist_rows = math.ceil(n_layers / width)
    drawing = InlineFigure(figsize=(3.6 * width, 3.2 * (1 + hist_rows)), layout="constrained")
    grid = drawing.add_gridspec(1 + hist_rows, width)
    top = grid[0, :].subgridspec(1, 3)
    curves = [drawing.add_subplot(top[0, i]) for i in range(3)]
    panels = (("grad_norm", "gradient norm (mean per step)", True),
              ("update_ratio", "update ratio ||dW||/||W|| per epoch", True),
              ("dead", "dead ReLU units (saturated for sigmoid/tanh)", False))
    colours = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, max(n_layers, 1)))
    for axes, (stat, label, log_scale) in zip(curves, panels, strict=True):
        drawn = zeros = False
        for k in range(1, n_layers + 1):
            series = columns.get(column(k, stat))
            name = f"layer {k}"
            if stat == "dead" and math.isfinite(probes[k - 1].saturated):
                series, name = columns.get(column(k, "saturated")), f"layer {k} (saturated)"
            if series is None or not any(math.isfinite(v) for v in series):
                continue
            values = np.array(series, dtype=np.float64)
            if log_scale:
                zeros = zeros or bool(np.any(values == 0))
                values[values <= 0] = np.nan
            axes.plot(epochs[:len(values)], values, color=colours[k - 1], label=name,
                      marker=".", markersize=4)
            drawn = True
        axes.set_title(label, fontsize=10)
        axes.set_xlabel("epoch")
        if epochs:
            axes.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
        if drawn:
            if log_scale:
                axes.set_yscale("log")
                plain_log_axis(axes.yaxis)
            else:
                axes.set_ylim(-0.02, 1.02)
            axes.legend(fontsize=7)
            if zeros:
                axes.text(0.02, 0.02, "zeros are not drawn (log scale)", fontsize=7,
                          transform=axes.transAxes)
        else:
            axes.text(0.5, 0.5, "not recorded\n(train with --diagnose)" if not columns
                      else "no ReLU, sigmoid or tanh layer", ha="center", va="center",
                      transform=axes.transAxes)
    last = epochs[-1] if epochs else 0
    for k, found in enumerate(probes, start=1):
        axes = drawing.add_subplot(grid[1 + (k - 1) // width, (k - 1) % width])
        values = found.pre.reshape(-1).astype(np.float64)
        axes.hist(values, bins=60, color=colours[k - 1])
        if math.isfinite(found.dead):
            axes.axvline(0.0, color="black", linewidth=0.8)
        extra = "" if not math.isfinite(found.dead) else f", {found.dead:.0%} dead"
        if math.isfinite(found.saturated):
            extra = f", {found.saturated:.0%} saturated"
        axes.set_title(f"layer {k} pre-activations{extra}", fontsize=9)
        axes.set_xlabel(f"value (epoch {last}, probe batch)")
    if title:
        drawing.suptitle(title)
    return drawing


def diagnose(run: str | Path, data: Data) -> tuple[str, Path]:
    """Diagnose a run from its latest checkpoint (``mlp diagnose``).

    Parameters
    ----------
    run : str or Path
        A run folder, or a checkpoint file (whose folder receives the figure).
    data : Data
        The run's data (``run_config.load_data`` of its ``config.json``): its first
        training rows are the probe batch.

    Returns
    -------
    report : str
        The last epoch's per-layer table and the warnings given.
    path : Path
        The ``diagnostics.png`` written next to the checkpoint.
    """
    checkpoint = load_checkpoint(run)
    folder = RunFolder.of(checkpoint.path)
    model, history = checkpoint.model, checkpoint.history
    probes, _ = probe(model, np.asarray(data.X_train[:PROBE_SIZE]))
    epoch = history.epoch[-1] if len(history) else 0
    lines = [f"{checkpoint.path}: epoch {epoch}, {len(probes)} layers, probe batch of "
             f"{len(probes[0].pre)} training samples"]
    lines.append(layer_table(model, history, probes))
    if not history.diagnostics:
        lines.append("no per-epoch diagnostics were recorded: train with --diagnose "
                     "(train.diagnostics: true) for the curves and the warnings")
    elif history.diagnostic_warnings:
        lines.append("warnings:")
        lines += [f"  {text}" for text in history.diagnostic_warnings.values()]
    else:
        lines.append("no warnings")
    path = save_figure(history, probes, folder.diagnostics,
                       title=f"{folder.name}: epoch {epoch}")
    lines.append(f"{path.name}: {path}")
    return "\n".join(lines), path
