"""Files written under one h5py version read back under every other the project supports.

The declared floor (``h5py>=3.11``, HDF5 1.14.2), 3.14 (HDF5 1.14.6) and the installed newest
(3.16, HDF5 2.0) each write a run folder, a data file, a saved estimator and a sweep
(``fixtures/h5py_files.py``); each version then reads all three: 9 writer-reader pairs, each
loading every file, comparing the numbers and resuming the run bit for bit. ``make test``
installs the older versions beside the virtual environment (``.venv/h5py-versions/<version>``);
the whole suite also runs under the floors (``make test-floors``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

SCRIPT = Path(__file__).parent / "fixtures" / "h5py_files.py"
REPO = Path(__file__).resolve().parents[1]
OLDER = Path(sys.prefix) / "h5py-versions"
VERSIONS = ("3.11.0", "3.14.0", "installed")

pytestmark = pytest.mark.skipif(
    not all((OLDER / v / "h5py").is_dir() for v in VERSIONS[:2]),
    reason=f"the older h5py versions are not installed under {OLDER} (make test installs them)")


def run(version: str, action: str, folder: Path) -> str:
    """``h5py_files.py ACTION FOLDER`` in a child process under h5py ``version``."""
    path = [str(REPO)] + ([] if version == "installed" else [str(OLDER / version)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path[::-1]), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(SCRIPT), action, str(folder)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=folder)
    assert done.returncode == 0, f"{action} under h5py {version}:\n{done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folders = {}
    for version in VERSIONS:
        folder = tmp_path_factory.mktemp(f"written-{version}")
        line = run(version, "write", folder)
        expected = h5py.__version__ if version == "installed" else version
        assert line == f"h5py {expected}: ok"
        folders[version] = folder
    return folders


@pytest.mark.parametrize("reader", VERSIONS)
@pytest.mark.parametrize("writer", VERSIONS)
def test_every_file_reads_back_and_resumes(written: dict[str, Path], writer: str,
                                           reader: str, tmp_path: Path) -> None:
    # a copy: a resume writes into its run folder, and each pair starts from the written files
    folder = tmp_path / "files"
    shutil.copytree(written[writer], folder)
    expected = h5py.__version__ if reader == "installed" else reader
    assert run(reader, "read", folder) == f"h5py {expected}: ok"
