"""The library where POSIX is not: child processes in which ``fcntl``, ``termios`` and the
other POSIX-only modules cannot be imported, ``signal`` holds only the names Windows has and
``os`` lacks its POSIX-only calls import the packages, train, save, resume bit-identically,
stop on SIGTERM with status 143, and lock a run folder with filelock's soft lock: a second
trainer is refused naming the holder, and the lock a SIGKILLed trainer left is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from fixtures.faults import child_env, write_config, write_npz

from mlp.storage.run_folder import LOCK
from mlp.training.checkpoint import load_checkpoint

#: run first in every child: what Windows lacks is taken away
PRELUDE = textwrap.dedent("""\
    import importlib.abc, os, signal, sys

    POSIX_ONLY = frozenset({"fcntl", "termios", "tty", "pty", "resource", "grp", "pwd",
                            "syslog"})

    class _Unavailable(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name in POSIX_ONLY:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    assert not POSIX_ONLY & set(sys.modules), POSIX_ONLY & set(sys.modules)
    sys.meta_path.insert(0, _Unavailable())
    WINDOWS_SIGNAL = {"SIGABRT", "SIGFPE", "SIGILL", "SIGINT", "SIGSEGV", "SIGTERM", "SIGBREAK",
                      "CTRL_C_EVENT", "CTRL_BREAK_EVENT", "NSIG", "SIG_DFL", "SIG_IGN",
                      "default_int_handler", "getsignal", "signal", "raise_signal",
                      "strsignal", "valid_signals", "set_wakeup_fd", "Signals", "Handlers"}
    for _name in [n for n in dir(signal) if not n.startswith("_") and n not in WINDOWS_SIGNAL]:
        delattr(signal, _name)
    for _name in ("pread", "pwrite", "fork", "forkpty", "setsid", "killpg", "getpgid",
                  "setpgid", "getuid", "geteuid", "getgid", "getegid", "sched_getaffinity",
                  "O_NONBLOCK"):
        if hasattr(os, _name):
            delattr(os, _name)
    """)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", PRELUDE + textwrap.dedent(code)]


def _mlp(*args: str | Path) -> list[str]:
    """``mlp ARGS`` without POSIX."""
    return _python(f"""
        import runpy
        sys.argv = ["mlp", *{[str(a) for a in args]!r}]
        runpy.run_module("mlp.cli.commands", run_name="__main__", alter_sys=True)
        """)


def _start(cwd: Path, *args: str | Path) -> subprocess.Popen[str]:
    """``mlp ARGS`` without POSIX, returned once it logged its first epoch."""
    process = subprocess.Popen(_mlp(*args), cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=child_env())
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("epoch "):
            return process
    process.wait(timeout=60)
    raise AssertionError(f"mlp {args} ended before its first epoch: {''.join(seen)}")


def test_without_posix_the_packages_import_train_save_and_resume_bit_identically(tmp_path):
    code = f"""
        import json
        import numpy as np
        import filelock
        import mlp, mlp.cli.commands, mlp.sklearn.estimators, preprocess
        from mlp import BasicRoutinizer, Model, load_checkpoint
        from mlp.sklearn.estimators import RoutinizerClassifier
        from fixtures.faults import blobs

        try:
            import fcntl
        except ImportError:
            pass
        else:
            raise AssertionError("fcntl was importable")
        assert not hasattr(signal, "SIGKILL") and not hasattr(os, "O_NONBLOCK")
        root = {str(tmp_path)!r}
        data = blobs()
        data.save(root + "/data.h5")
        data = preprocess.Data.load(root + "/data.h5")
        settings = dict(progress=False, seed=1, batch_size=16)
        BasicRoutinizer(epochs=2, checkpoint_dir=root + "/resumed", **settings).run(
            Model.mlp([6, 8, 3]), data)
        routinizer, model = BasicRoutinizer.resume(root + "/resumed")
        routinizer.epochs = 4
        routinizer.run(model, data)
        BasicRoutinizer(epochs=4, checkpoint_dir=root + "/straight", **settings).run(
            Model.mlp([6, 8, 3]), data)
        resumed = dict(load_checkpoint(root + "/resumed/last.h5").model.named_arrays())
        straight = dict(load_checkpoint(root + "/straight/last.h5").model.named_arrays())
        estimator = RoutinizerClassifier(hidden_layer_sizes=[8], epochs=3, random_state=0).fit(
            data.X_train, data.y_train)
        estimator.save(root + "/estimator.h5")
        loaded = RoutinizerClassifier.load(root + "/estimator.h5")
        print(json.dumps({{
            "soft_lock": filelock.FileLock is filelock.SoftFileLock,
            "posix_modules": sorted(POSIX_ONLY & set(sys.modules)),
            "same_arrays": sorted(resumed) == sorted(straight) and all(
                np.array_equal(resumed[k], straight[k]) for k in resumed),
            "epoch": load_checkpoint(root + "/resumed/last.h5").state.epoch,
            "same_predictions": bool(np.array_equal(estimator.predict(data.X_val),
                                                    loaded.predict(data.X_val))),
        }}))
        """
    tests = Path(__file__).parent
    paths = [str(tests.parent), str(tests), os.environ.get("PYTHONPATH", "")]
    env = child_env() | {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    result = subprocess.run(_python(code), capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "soft_lock": True, "posix_modules": [], "same_arrays": True, "epoch": 4,
        "same_predictions": True}


def test_without_posix_a_second_trainer_is_refused_and_a_killed_trainers_lock_taken_over(
        tmp_path):
    write_npz(tmp_path / "data.npz", n=400)
    write_config(tmp_path / "run.json", epochs=100_000, batch_size=4)
    folder = tmp_path / "ckpt" / "run"
    first = _start(tmp_path, "train", "run.json")
    try:
        marker = (folder / LOCK).read_text().splitlines()
        assert marker[0] == str(first.pid)  # the soft lock: a file naming its holder
        second = subprocess.run(_mlp("train", "run.json", "--overwrite"), cwd=tmp_path,
                                capture_output=True, text=True, env=child_env(), timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"is in use by process {first.pid};" in second.stderr
        assert first.poll() is None  # the first trainer is unharmed
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 143, err
    assert "interrupted after epoch" in err
    assert not (folder / LOCK).exists()  # released on the way out

    done = load_checkpoint(folder / "last.h5").state.epoch
    killed = _start(tmp_path, "resume", folder, "--epochs", "100000")
    killed.kill()
    killed.communicate(timeout=60)
    assert (folder / LOCK).read_text().splitlines()[0] == str(killed.pid)  # left behind
    last = subprocess.run(_mlp("resume", folder, "--epochs", str(done + 5)), cwd=tmp_path,
                          capture_output=True, text=True, env=child_env(), timeout=60)
    assert last.returncode == 0, last.stderr  # no process has the pid: the lock is taken over
    assert load_checkpoint(folder / "last.h5").state.epoch == done + 5
    assert not (folder / LOCK).exists()


def test_the_prelude_takes_away_what_it_says():
    result = subprocess.run(_python("""
        import importlib, json
        gone = []
        for name in sorted(POSIX_ONLY):
            try:
                importlib.import_module(name)
            except ModuleNotFoundError:
                gone.append(name)
        print(json.dumps([gone, hasattr(signal, "SIGHUP"), hasattr(signal, "pthread_sigmask"),
                          hasattr(signal, "SIGTERM"), hasattr(os, "pread")]))
        """), capture_output=True, text=True, env=child_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["fcntl", "grp", "pty", "pwd", "resource", "syslog", "termios", "tty"],
        False, False, True, False]
