"""The shipped notebooks run in a real Jupyter kernel (nbclient + ipykernel), and what the
kernel sends is what a person should see: no error, one progress display and one live
picture per training cell, each updated in place, a few images and little text left in the
cell, and the plotting helpers' figures shown as pictures."""

from __future__ import annotations

import importlib.util
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "scripts" / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"
MAX_STREAM_BYTES = 20_000
MAX_IMAGES = 3


class _Recorder(nbclient.NotebookClient):
    """A NotebookClient that keeps every message the kernel sends, by cell."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: dict[int, list[dict]] = defaultdict(list)

    def process_message(self, msg: dict, cell: Any, cell_index: int) -> Any:
        self.messages[cell_index].append(msg)
        return super().process_message(msg, cell, cell_index)


def _execute(notebook: Any) -> dict[int, list[dict]]:
    """Run ``notebook`` in a fresh kernel started in the notebooks' folder, with this
    checkout first on the path; returns the messages of each cell."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("MPLBACKEND", None)  # the kernel's own (inline) backend, as a person has it
    env["MLP_KERNELS"] = "numpy"  # same results; spares each kernel loading the compiled ones
    client = _Recorder(notebook, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(FOLDER)}})
    client.execute(env=env)
    return client.messages


def _displays(messages: list[dict]) -> tuple[list[dict], Counter]:
    """The ``display_data`` messages of a cell, and how many updates each display id got."""
    shown = [m for m in messages if m["msg_type"] == "display_data"]
    updates = Counter(m["content"]["transient"]["display_id"] for m in messages
                      if m["msg_type"] == "update_display_data")
    return shown, updates


def _is_progress(message: dict) -> bool:
    data = message["content"]["data"]
    return WIDGET in data or "mlp-progress" in data.get("text/html", "")


def _check_training_cell(cell: Any, messages: list[dict]) -> None:
    shown, updates = _displays(messages)
    progress = [m for m in shown if _is_progress(m)]
    figures = [m for m in shown if "image/png" in m["content"]["data"]]
    assert len(progress) == 1, f"expected one progress display, found {len(progress)}"
    assert len(figures) == 1, f"expected one live figure, found {len(figures)}"
    assert len(shown) == 2, "nothing but the progress line and the figure is displayed"
    for display in (*progress, *figures):  # each one was updated in place
        assert updates[display["content"]["transient"]["display_id"]] >= 1
    if WIDGET in progress[0]["content"]["data"]:  # live updates are widget messages,
        widget_updates = sum(m["msg_type"] == "comm_msg" for m in messages)
        assert 1 <= widget_updates <= 100  # a few a second, not one an epoch
    images = sum("image/png" in output.get("data", {}) for output in cell.outputs)
    assert 1 <= images <= MAX_IMAGES
    # what is left in the cell is the final line (plain HTML, whatever was shown live), and
    # the History's short table when the cell's value is the run's History
    html = [output["data"]["text/html"] for output in cell.outputs
            if "text/html" in output.get("data", {})]
    lines = [text for text in html if "mlp-progress" in text]
    assert len(lines) == 1 and "in all" in lines[0]
    assert all(len(text) < 3000 for text in html)


def _streamed(messages: dict[int, list[dict]]) -> int:
    return sum(len(m["content"]["text"].encode()) for cell in messages.values()
               for m in cell if m["msg_type"] == "stream")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_a_shipped_notebook_runs_and_shows_what_it_should(path: Path):
    notebook = nbformat.read(path, as_version=4)
    messages = _execute(notebook)
    kinds = Counter(m["msg_type"] for cell in messages.values() for m in cell)
    assert kinds["error"] == 0
    assert _streamed(messages) < MAX_STREAM_BYTES
    training = [index for index, cell in enumerate(notebook.cells)
                if "training" in cell.get("metadata", {}).get("tags", [])]
    widgets = importlib.util.find_spec("ipywidgets") is not None
    for index in training:  # with ipywidgets installed, the progress line is a widget
        assert any(WIDGET in m["content"]["data"] for m in messages[index]
                   if m["msg_type"] == "display_data") == widgets
    for index in training:
        _check_training_cell(notebook.cells[index], messages[index])
    for index, cell in enumerate(notebook.cells):
        if index not in training:  # no stray progress displays outside training cells
            assert not any(_is_progress(m) for m in _displays(messages[index])[0])
        if cell.cell_type == "code" and cell.source.startswith("plot_"):
            results = [m for m in messages[index] if m["msg_type"] == "execute_result"]
            assert len(results) == 1 and "image/png" in results[0]["content"]["data"], \
                "a plotting helper's figure as the cell's value shows as a picture"


def test_notebooks_are_shipped_without_outputs():
    assert {path.stem for path in NOTEBOOKS} >= {"sin_fit", "digits", "backprop", "optimizers"}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def test_without_ipywidgets_progress_is_an_html_display_updated_through_its_handle():
    blocked = "import sys\nsys.modules['ipywidgets'] = None  # an import of it now fails"
    training = ("from mlp import BasicRoutinizer, Model\nfrom preprocess import Data\n"
                "BasicRoutinizer(epochs=300, batch_size=None, lr=0.01, loss='mse',\n"
                "                dynamic_show=True).run(Model.mlp([1, 8, 1]), Data.sin())")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(blocked),
                                               nbformat.v4.new_code_cell(training)])
    messages = _execute(notebook)[1]
    kinds = Counter(m["msg_type"] for m in messages)
    assert kinds["error"] == 0
    assert not any(kind.startswith("comm") for kind in kinds)
    _check_training_cell(notebook.cells[1], messages)
    progress = next(m for m in _displays(messages)[0] if _is_progress(m))
    assert "text/html" in progress["content"]["data"]
    assert progress["content"]["data"]["text/plain"].startswith("epoch 0/300")
