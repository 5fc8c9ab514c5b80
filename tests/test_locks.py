"""One writer per run folder: a second process is refused (run) or waits (cache build)."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ealstm.config import parse_config
from ealstm.errors import RunLockedError
from ealstm.locks import LOCK_NAME, folder_lock, holder_pid
from ealstm.training.loop import train
from tests.conftest import tiny_run_config

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Start a process that takes the lock of ``folder`` and sleeps until killed."""
    code = ("import sys, time; from ealstm.locks import folder_lock\n"
            "with folder_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], env=_env(),
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_second_process_is_refused_with_folder_and_pid(tmp_path):
    holder = _hold_lock(tmp_path / "run")
    try:
        with pytest.raises(RunLockedError, match=rf"{tmp_path / 'run'}.*pid {holder.pid}"):
            with folder_lock(tmp_path / "run"):
                pass
        assert holder_pid(tmp_path / "run" / LOCK_NAME) == holder.pid
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path / "run"):  # the kernel released the lock of the killed holder
        assert holder_pid(tmp_path / "run" / LOCK_NAME) == os.getpid()


def test_lock_is_reentrant_within_one_process(tmp_path):
    with folder_lock(tmp_path), folder_lock(tmp_path):
        pass
    with folder_lock(tmp_path):
        pass


def test_train_refuses_a_run_folder_in_use_and_writes_nothing(demo_camels, tmp_path):
    cfg = parse_config(tiny_run_config(demo_camels, tmp_path, epochs=1))
    holder = _hold_lock(cfg.run_dir)
    try:
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            train(cfg, progress=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert sorted(p.name for p in cfg.run_dir.iterdir()) == [LOCK_NAME]


def test_cli_train_on_a_run_name_in_use_exits_with_a_clear_error(demo_camels, tmp_path):
    import yaml

    config = tmp_path / "run.yml"
    config.write_text(yaml.safe_dump(tiny_run_config(demo_camels, tmp_path, epochs=1)))
    holder = _hold_lock(tmp_path / "tiny")  # as a first `ealstm train` would
    try:
        second = subprocess.run([sys.executable, "-m", "ealstm", "train", str(config),
                                 "--no-progress"], env=_env(), capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2
    message = second.stderr.strip().splitlines()[-1]
    assert f"pid {holder.pid}" in message and str(tmp_path / "tiny") in message
    assert not (tmp_path / "tiny" / "train_log.csv").exists()


_BUILD = textwrap.dedent("""
    import sys, time
    from ealstm.config import parse_config
    from ealstm.data import cache
    real = cache.build_arrays
    def counted(*args):
        with open(sys.argv[2], "a") as out:
            out.write("parsed\\n")
        time.sleep(2)  # hold the build open so that the other process must wait
        return real(*args)
    cache.build_arrays = counted
    import yaml
    cfg = parse_config(yaml.safe_load(open(sys.argv[1])))
    print(cache.build_cache(cfg.data))
""")


@pytest.mark.slow
def test_concurrent_cache_builds_parse_once(demo_camels, tmp_path):
    import yaml

    config = tmp_path / "run.yml"
    config.write_text(yaml.safe_dump(tiny_run_config(demo_camels, tmp_path)))
    marker = tmp_path / "parsed.txt"
    procs = [subprocess.Popen([sys.executable, "-c", _BUILD, str(config), str(marker)],
                              env=_env(), stdout=subprocess.PIPE, text=True) for _ in range(2)]
    paths = {p.communicate()[0].strip() for p in procs}
    assert [p.returncode for p in procs] == [0, 0]
    assert len(paths) == 1
    assert marker.read_text().splitlines() == ["parsed"]


def test_second_thread_is_refused_like_another_process(tmp_path):
    """Dask workers run tasks as threads: re-entrancy must not let a second thread in."""
    import threading

    held, release, errors = threading.Event(), threading.Event(), []

    def hold() -> None:
        with folder_lock(tmp_path / "run"):
            held.set()
            release.wait(10)

    first = threading.Thread(target=hold)
    first.start()
    assert held.wait(10)
    try:
        def second() -> None:
            try:
                with folder_lock(tmp_path / "run"):
                    pass
            except RunLockedError as error:
                errors.append(error)

        other = threading.Thread(target=second)
        other.start()
        other.join(10)
    finally:
        release.set()
        first.join(10)
    assert len(errors) == 1 and str(tmp_path / "run") in str(errors[0])
    with folder_lock(tmp_path / "run"):  # released by the first thread
        pass


def test_wait_lock_makes_a_second_thread_wait(tmp_path):
    import threading
    import time

    from ealstm.locks import wait_lock

    order, held = [], threading.Event()

    def first() -> None:
        with wait_lock(tmp_path / "build.lock"):
            held.set()
            time.sleep(0.3)
            order.append("first done")

    def second() -> None:
        held.wait(10)
        with wait_lock(tmp_path / "build.lock"):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first done", "second in"]
