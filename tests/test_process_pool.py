"""The pool's workers (``evaluation/runners/process_pool.py``): they import the evaluation only
(not torch or mmdet, asserted from each worker's own ``sys.modules``), report a share that
raised with its traceback and serve on, are replaced after one died, and end with the process
that started them. That a pool's numbers are one process's: ``test_metric_bit_identity.py``."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import mmdet_droploss  # noqa: F401
from mmdet_droploss.datasets import generate_lvis_like
from mmdet_droploss.evaluation import ShareTask
from mmdet_droploss.evaluation.runners import ProcessPool, WorkerFailed
from mmdet_droploss.evaluation.runners.pool_worker import HEAVY_MODULES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    gt, _ = generate_lvis_like(4, 10, seed=1)
    path = tmp_path_factory.mktemp('pool') / 'gt.json'
    path.write_text(json.dumps(gt))
    return str(path)


def _task(index, backend='faster_coco_eval'):
    """A share without categories (evaluates nothing); with an unknown back end, one that
    raises in the worker."""
    cats = [] if backend == 'faster_coco_eval' else [1]
    return ShareTask(index, 'bbox', backend, cats, dict(images=[], annotations=[],
                                                        categories=[]), None, None)


def _gone(pid, timeout=30.0):
    """Whether process ``pid`` exited (and was reaped, or is a zombie) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f'/proc/{pid}/stat') as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_workers_import_the_evaluation_only_and_start_without_waiting(ann_file):
    assert set(HEAVY_MODULES) <= set(sys.modules)  # here they are loaded
    pool = ProcessPool(2, ann_file, masks=True)
    try:
        pool.start(wait=False)  # launches them only: the first record goes on at once
        started = pool.started()
    finally:
        pool.close()
    assert len({s['pid'] for s in started}) == 2
    assert [s['heavy'] for s in started] == [[], []], started
    assert all(_gone(s['pid'], 10) for s in started)  # close() ended them


def test_a_failed_share_is_reported_and_a_dead_worker_replaced(ann_file):
    pool = ProcessPool(2, ann_file)
    try:
        with pytest.raises(WorkerFailed, match='(?s)Pool worker 1 .*no_such_backend'):
            pool.run([_task(0), _task(1, 'no_such_backend')])
        # both replies were read: the next round gets its own
        assert [r.index for r in pool.run([_task(0), _task(1)])] == [0, 1]
        first = [s['pid'] for s in pool.started()]
        os.kill(first[0], signal.SIGKILL)
        with pytest.raises(WorkerFailed, match='is gone'):
            pool.run([_task(0), _task(1)])
        assert [r.index for r in pool.run([_task(0), _task(1)])] == [0, 1]
        second = [s['pid'] for s in pool.started()]
        assert not set(first) & set(second) and all(_gone(p, 10) for p in first)
    finally:
        pool.close()


def test_a_worker_that_cannot_read_the_annotation_file_says_so_and_serves_on(tmp_path):
    pool = ProcessPool(2, str(tmp_path / 'missing.json'))
    try:
        with pytest.raises(WorkerFailed, match='(?s)Pool worker 0 .*missing.json'):
            pool.start()
        # tasks with their own ground truth are still evaluated, each reply read in turn
        assert [r.index for r in pool.run([_task(0), _task(1)])] == [0, 1]
    finally:
        pool.close()


def test_workers_end_with_the_process_that_started_them(ann_file):
    script = ('import sys; from mmdet_droploss.evaluation.runners import ProcessPool\n'
              f'pool = ProcessPool(2, {ann_file!r}); '
              'print(*[s["pid"] for s in pool.started()], flush=True)\n'
              'import time; time.sleep(600)')
    parent = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                              cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), text=True)
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2
    finally:
        parent.kill()
        parent.wait()
    assert all(_gone(p) for p in workers), 'a pool worker outlived its parent'
