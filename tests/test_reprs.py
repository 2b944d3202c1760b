"""What users see when they display an object (a notebook cell's last expression, ``print``,
the REPL): a few lines of text or a small HTML table, whatever the size of the run, and
never an array's contents. Before, a 2000-epoch History printed 145,000 characters and a
loaded Checkpoint its optimizer's moments."""

from __future__ import annotations

import copy
import pickle
import re
import sys

import numpy as np
import pytest

from mlp import BasicRoutinizer, History, Model, TrainingConfig, load_checkpoint
from mlp.sweep.command import SweepOutcome
from mlp.sweep.report import SweepResults, TrialResult
from preprocess import Data

#: a value no display may show: it sits inside an array
MARK = 12345.678
LIMIT = 3000


def _assert_clean_html(text: str) -> None:
    """One small table, no stylesheet or script of its own, no array value."""
    assert text.startswith("<table>") and text.rstrip().endswith("</table>")
    assert text.count("<table>") == 1
    for forbidden in ("<style", "<link", "<script", "class=", "12345"):
        assert forbidden not in text


def _history(epochs: int, validation: bool = True) -> History:
    history = History()
    for epoch in range(1, epochs + 1):
        val = 1.0 / epoch + (0.0 if epoch <= 1234 else 0.001 * (epoch - 1234))
        history.append(epoch=epoch, train_loss=2.0 / epoch, val_loss=val if validation else None,
                       train_accuracy=1 - 1 / (epoch + 1), val_accuracy=0.5 if validation
                       else None, lr=1e-3, seconds=0.01)
    if epochs > 1000:  # one epoch's number that is neither the best's nor the last's
        history.train_loss[776] = 0.987654321
    return history


# --------------------------------------------------------------------------- Model
def test_the_model_shows_its_widths_modules_and_parameter_count_not_its_weights():
    model = Model.mlp([4, 8, 3], dropout=0.25)
    model.modules[0].weight[0, 0] = MARK
    text = repr(model)
    assert text.splitlines()[0] == ("Model(4->8->3, 4 modules, 67 parameters, float32, "
                                    "seed 0)")
    assert "Layer(4->8, he), Nonlinearity(relu), Dropout(p=0.25), Layer(8->3, he)" in text
    assert f"{model.n_parameters} parameters" in text
    assert str(model) == model.summary()  # print(model): the table
    html = model._repr_html_()
    _assert_clean_html(html)
    assert "Layer(4-&gt;8, he)" in html and "67 parameters" in html
    assert html.count("<tr>") == 1 + 4 + 1  # the header, a row per module, the total
    for shown in (text, str(model)):
        assert "12345" not in shown


def test_a_deep_model_still_shows_in_four_lines():
    model = Model.mlp([32] * 60 + [2], normalization="layer", dropout=0.1)
    text = repr(model)
    assert len(text.splitlines()) <= 4 and text.endswith(" ...")
    assert f"{model.n_parameters:,} parameters" in text.splitlines()[0]
    html = model._repr_html_()
    _assert_clean_html(html)
    assert f"{len(model.modules) - 40} more row(s)" in html and len(html) < 8000


def test_the_reprs_leave_json_equality_copies_and_pickles_as_they_were():
    model = Model.mlp([5, 7, 2], seed=3)
    routinizer = BasicRoutinizer(epochs=4, lr=0.01, loss="mse")
    for obj in (model, routinizer, _history(20)):
        assert pickle.loads(pickle.dumps(obj)) == obj
        assert copy.deepcopy(obj) == obj
        assert type(obj).model_validate_json(obj.model_dump_json()) == obj
    assert '"momentum":0.9' in routinizer.model_dump_json()  # the JSON keeps every field


# ------------------------------------------------------------------------- History
def test_a_long_history_shows_the_best_and_the_last_epoch_in_four_lines():
    history = _history(2000)
    text = repr(history)
    assert len(text) < LIMIT and len(text.splitlines()) == 4
    assert text.splitlines()[0] == "History(2,000 epochs, 20 s, best by lowest val_loss)"
    best, last = text.splitlines()[2].split(), text.splitlines()[3].split()
    assert best[:4] == ["best", "1234", f"{2 / 1234:.5g}", f"{1 / 1234:.5g}"]
    assert last[:3] == ["last", "2000", "0.001"]
    assert str(history) == text
    html = history._repr_html_()
    assert len(html) < LIMIT
    _assert_clean_html(html)
    assert "<td style=\"text-align:right\">1234</td>" in html
    for shown in (text, html):
        assert "0.98765" not in shown  # no other epoch's numbers


def test_a_history_without_validation_is_best_by_the_training_loss():
    history = _history(5, validation=False)
    text = repr(history)
    assert "best by lowest train_loss" in text and "val_loss" not in text
    assert text.splitlines()[2].split()[:3] == ["best,", "last", "5"]
    assert repr(History()) == "History(no epochs)"
    assert "no epochs" in History()._repr_html_()


def test_history_to_dict_and_to_frame_hold_every_epoch():
    pd = pytest.importorskip("pandas")
    history = _history(300, validation=False)
    history.diagnostics["layer0.dead"] = [0.5] * 300
    columns = history.to_dict()
    assert list(columns) == ["epoch", "train_loss", "val_loss", "train_accuracy",
                             "val_accuracy", "lr", "seconds", "layer0.dead"]
    assert columns["train_loss"] == history.train_loss and columns["val_loss"] == [None] * 300
    columns["epoch"].append(301)  # copies: the history is unchanged
    assert len(history.epoch) == 300
    frame = history.to_frame()
    assert isinstance(frame, pd.DataFrame) and frame.shape == (300, 7)
    assert frame.index.name == "epoch" and list(frame.index) == list(range(1, 301))
    assert frame.loc[77, "train_loss"] == 2.0 / 77
    assert frame["val_loss"].isna().all() and frame["val_loss"].dtype == np.float64


def test_history_to_frame_without_pandas_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # what a missing package does
    with pytest.raises(ImportError, match=re.escape("pip install pandas")):
        _history(3).to_frame()
    assert _history(3).to_dict()["epoch"] == [1, 2, 3]


# ---------------------------------------------------------------------- Checkpoint
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 6-epoch Adam run on digits: its checkpoint holds 20,000 weights and twice as many
    moments."""
    data = Data.from_sklearn("digits").split_validation(0.2).normalize()
    folder = tmp_path_factory.mktemp("runs") / "a<b&c"
    routinizer = BasicRoutinizer(epochs=6, batch_size=256, checkpoint_dir=folder,
                                 progress=False, lr=3e-3)
    model = Model.mlp([64, 200, 32, 10])
    routinizer.run(model, data)
    return routinizer, model, data


def test_a_loaded_checkpoint_shows_its_path_model_epoch_and_best(trained):
    routinizer, model, _ = trained
    checkpoint = load_checkpoint(routinizer.checkpoint_dir)
    assert set(checkpoint.optimizer_state) == {"m", "v"}
    state = checkpoint.state
    text = repr(checkpoint)
    assert len(text) < LIMIT and len(text.splitlines()) <= 4
    assert text.splitlines()[0] == f"Checkpoint({str(checkpoint.path)!r})"
    assert text.splitlines()[1] == "  " + model.describe()
    assert "epoch 6 of 6" in text and "10 classes" in text and "zscore" in text
    assert f"best epoch {state.best_epoch}: val_loss {state.best_loss:.5g}" in " ".join(
        line.strip() for line in text.splitlines())
    html = checkpoint._repr_html_()
    assert len(html) < LIMIT
    _assert_clean_html(html)
    assert "a&lt;b&amp;c" in html and "a<b" not in html  # the path, escaped
    assert "<td style=\"text-align:left\">m, v</td>" in html


def test_a_checkpoint_display_shows_no_weight_nor_moment(trained):
    routinizer, _, _ = trained
    checkpoint = load_checkpoint(routinizer.checkpoint_dir)
    checkpoint.model.modules[0].weight[3, 5] = MARK
    checkpoint.optimizer_state["m"]["0/weight"][0, 0] = MARK
    for shown in (repr(checkpoint), checkpoint._repr_html_(), repr(checkpoint.model),
                  repr(checkpoint.history), repr(checkpoint.state)):
        assert "12345" not in shown


# ---------------------------------------------------------- TrainingConfig, routinizer
def test_a_training_config_shows_what_differs_from_the_defaults(tmp_path):
    assert repr(BasicRoutinizer()) == "BasicRoutinizer()"
    assert repr(TrainingConfig(lr=0.001, epochs=10)) == "TrainingConfig()"
    routinizer = BasicRoutinizer(epochs=30, optimizer="sgd", loss="mse",
                                 checkpoint_dir=tmp_path / "run")
    text = repr(routinizer)
    assert text == (f"BasicRoutinizer(epochs=30, optimizer='sgd', loss=MSELoss(), "
                    f"checkpoint_dir={str(tmp_path / 'run')!r})")
    assert f"{routinizer}" == text.removeprefix("BasicRoutinizer(")[:-1].replace(", ", " ")
    assert set(routinizer.non_default_fields()) == {"epochs", "optimizer", "loss",
                                                    "checkpoint_dir"}
    html = routinizer._repr_html_()
    _assert_clean_html(html)
    assert "4 fields differ from the defaults" in html
    assert "<td style=\"text-align:left\">optimizer</td><td style=\"text-align:left\">sgd</td>" \
           "<td style=\"text-align:left\">adam</td>" in html
    assert "every field at its default" in TrainingConfig()._repr_html_()


def test_a_trained_routinizer_still_shows_only_its_settings(trained):
    routinizer, _, _ = trained
    assert len(repr(routinizer)) < 200
    assert len(routinizer._repr_html_()) < LIMIT


# ---------------------------------------------------------------------------- Data
def test_data_shows_task_classes_splits_and_normaliser_not_values():
    X = np.arange(200, dtype=np.float64).reshape(50, 4)
    X[7, 2] = MARK
    data = Data(X, np.arange(50) % 3, X_test=X[:10], y_test=np.arange(10) % 3,
                w_train=np.ones(50)).split_validation(0.2, seed=0).normalize("minmax")
    text = repr(data)
    assert text == ("Data(classification, 3 classes; 4 features, normalised (minmax); "
                    "train 41, val 9, test 10; sample weights in train, val)")
    html = data._repr_html_()
    _assert_clean_html(html)
    assert "(41, 4) float64" in html and "(10,) int64" in html
    assert "12345" not in text
    regression = Data.sin(n_train=64, n_val=32)
    assert repr(regression) == ("Data(regression, 1 output; 1 feature, raw; train 64, "
                                "val 32)")


# --------------------------------------------------------------------------- sweeps
def _sweep_results(trials: int) -> SweepResults:
    results = []
    for number in range(trials):
        value = 1.0 / (1 + (number * 7) % trials)  # best: the trial whose value is lowest
        runs = [{"value": value + delta, "repeat": repeat, "best_epoch": 3, "epochs": 5,
                 "seconds": 1.0, "curve": [value] * 5, "started": "fresh"}
                for repeat, delta in enumerate((0.0, 0.01))]
        state = "FAIL" if number == 1 else "COMPLETE"
        results.append(TrialResult(number, state, {"train.lr": 10.0 ** -(number % 4),
                                                   "model.hidden": [64, 32]},
                                   runs if state == "COMPLETE" else [], ""))
    sweep = {"metric": "val_loss", "direction": "minimize", "repeats": 2,
             "space": {"train.lr": {"choice": [1, 0.1, 0.01, 0.001]},
                       "model.hidden": {"choice": [[64, 32]]}},
             "search": {"kind": "grid"}}
    return SweepResults("digits", sweep, results, 42.0)


def test_sweep_results_show_their_best_rows_as_a_table():
    results = _sweep_results(30)
    best = results.best()
    text = repr(results)
    assert text.splitlines()[0] == ("SweepResults('digits': 30 trials (29 complete, 1 fail), "
                                    "minimize val_loss, 42.0 s)")
    assert len(text.splitlines()) == 2 + 3  # the header and the three best
    first = text.splitlines()[2].split()
    assert first[:2] == ["1", str(best.number)] and first[-1] == "complete"
    assert f"{best.mean:.4g} ± {best.sd:.2g}" in text
    html = results._repr_html_()
    _assert_clean_html(html)
    assert html.count("<tr>") == 1 + 10 + 1 and "20 more in results.md" in html
    assert "64-32" in html and len(html) < LIMIT
    outcome = SweepOutcome(50.0, 1.0, 40.0, 38.0, 2.0, [], [], results)
    assert repr(outcome).splitlines()[0] == "SweepOutcome(50.0 s, no report)"
    assert repr(outcome).splitlines()[1:] == text.splitlines()
    assert html in outcome._repr_html_()


def test_ipython_shows_the_html_table_and_the_short_text(trained):
    formatters = pytest.importorskip("IPython.core.formatters")
    routinizer, model, data = trained
    checkpoint = load_checkpoint(routinizer.checkpoint_dir)
    for obj in (model, routinizer.history, routinizer, data, checkpoint):
        shown, _ = formatters.DisplayFormatter().format(obj)
        assert shown["text/plain"] == repr(obj)
        assert shown["text/html"] == obj._repr_html_()
