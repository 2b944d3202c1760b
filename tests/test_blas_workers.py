"""OpenBLAS's idle workers are told to sleep soon after a product, once per process, without
changing a single result (``mlp.nn.blas_workers``). Each case runs in a fresh process: the
setting is process-wide and made once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from mlp.nn import blas_workers


def _run(code: str, **environ: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env.update(environ)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


_PRODUCTS = """
    import hashlib, json, os, threading
    import numpy as np
    from mlp.nn import blas_workers

    rng = np.random.default_rng(0)
    a, b = rng.random((300, 700), dtype=np.float32), rng.random((700, 500), dtype=np.float32)

    def digest():
        return hashlib.sha256((a @ b).tobytes() + (a.T.copy().T @ b).tobytes()).hexdigest()

    before = digest()
    from_thread = []
    worker = threading.Thread(target=lambda: from_thread.append(blas_workers.settle()))
    worker.start()
    worker.join()
    library = blas_workers._numpy_openblas()
    found = None if library is None else blas_workers._timeout(library)
    settled = blas_workers.settle()
    print(json.dumps({"same": before == digest(), "settled": settled, "again":
                      blas_workers.settle(), "from_thread": from_thread[0],
                      "library": library is not None, "found": found,
                      "now": None if library is None else blas_workers._timeout(library),
                      "environ": os.environ.get("OPENBLAS_THREAD_TIMEOUT")}))
"""


def _openblas_here() -> bool:
    return bool(_run("""
        import json
        from mlp.nn import blas_workers
        print(json.dumps(blas_workers._numpy_openblas() is not None))
    """))


def test_settle_shortens_the_spin_once_and_changes_no_result():
    if not _openblas_here():
        pytest.skip("NumPy's BLAS here is not an OpenBLAS that settle can reach")
    found = _run(_PRODUCTS)
    assert found["same"]  # the same threads split the same products: the same bits
    assert found["found"] == 0  # unset before: OpenBLAS's default of 2**28 ticks
    assert found["settled"] == found["again"] == found["now"] == blas_workers.SPIN_EXPONENT
    assert found["from_thread"] is None  # a non-main thread first: nothing done, nothing known
    assert found["environ"] is None  # the variable is not left behind for child processes


@pytest.mark.parametrize(("given", "kept"), [("8", 8), ("2", 4), ("30", None)])
def test_a_short_timeout_from_the_environment_is_kept(given, kept):
    if not _openblas_here():
        pytest.skip("NumPy's BLAS here is not an OpenBLAS that settle can reach")
    found = _run(_PRODUCTS, OPENBLAS_THREAD_TIMEOUT=given)
    assert found["same"]
    assert found["environ"] == given
    expected = blas_workers.SPIN_EXPONENT if kept is None else kept
    assert found["settled"] == expected
    assert found["now"] == (expected if kept is None else int(given))


def test_a_trainer_settles_the_workers_and_splits_its_step():
    if not _openblas_here():
        pytest.skip("NumPy's BLAS here is not an OpenBLAS that settle can reach")
    found = _run("""
        import json, os
        from mlp.nn.fused import Kernels
        print(json.dumps({"threads": Kernels().threads, "cores": len(os.sched_getaffinity(0))}))
    """, MLP_KERNEL_THREADS="auto")
    assert found["threads"] == (2 if found["cores"] >= 2 else 1)
