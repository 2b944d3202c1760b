"""The Examples of the training, sweep, scikit-learn and data docstrings run as written.

Each module's docstrings are run by ``doctest`` (examples that need files a reader would
have, such as a run folder, are marked ``+SKIP``), so an example that drifts from what the
code does fails here.
"""

from __future__ import annotations

import doctest
import importlib
import warnings

import pytest

MODULES = ["mlp.training.field_docs", "mlp.training.hyperparameters",
           "mlp.training.routinizer", "mlp.training.run_state", "mlp.training.run_config",
           "mlp.training.checkpoint", "mlp.training.compare", "mlp.sweep.config",
           "mlp.cli.commands", "preprocess.data", "preprocess.disk", "mlp.sklearn.estimators"]


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_run_as_written(name: str, tmp_path, monkeypatch) -> None:
    if name.startswith(("mlp.sklearn", "preprocess")):
        pytest.importorskip("sklearn")
    if name.startswith("mlp.sweep"):
        pytest.importorskip("optuna")
    monkeypatch.chdir(tmp_path)  # an example that writes, writes here
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short example fit warns that it ran out of epochs
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0


def test_an_example_that_drifted_fails() -> None:
    """The check itself: doctest reports an example whose output is wrong."""
    def drifted() -> None:
        """>>> 1 + 1
        3
        """

    runner = doctest.DocTestRunner(verbose=False)
    for test in doctest.DocTestFinder().find(drifted, globs={}):
        runner.run(test, out=lambda text: None)
    assert runner.failures == 1
