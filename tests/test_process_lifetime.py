"""Ranks and data-loader workers die with their parent (mmdet_droploss.compat.process_lifetime).

Each test builds a small process tree, SIGKILLs the middle process and checks that its children
end within seconds. Every process involved is recorded and killed at the end if still alive.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO_ROOT
from proc_tree import alive, kill_all, stat, wait_gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='PR_SET_PDEATHSIG is Linux only')

# The parent: starts CHILD_CODE (with the given environment), reports its pid, waits forever.
PARENT = textwrap.dedent('''
    import os, subprocess, sys, time
    env = dict(os.environ, **eval(sys.argv[2]))
    child = subprocess.Popen([sys.executable, '-c', sys.argv[1]], env=env, stdout=subprocess.PIPE,
                             text=True)
    print(child.pid, child.stdout.readline().strip(), flush=True)
    time.sleep(600)
''')

# A DataLoader worker stuck inside __getitem__ (as one blocked on a futex): torch's own watchdog
# never runs there. The worker reports its pid through a pipe.
STUCK_WORKER = textwrap.dedent('''
    import os, sys, time
    import mmdet_droploss.compat.process_lifetime  # noqa: F401 (as `import mmdet_droploss` does)
    import torch.utils.data as data
    r, w = os.pipe()
    class Stuck(data.Dataset):
        def __len__(self):
            return 10
        def __getitem__(self, i):
            os.write(w, f'{os.getpid()}\\n'.encode())
            time.sleep(600)
    it = iter(data.DataLoader(Stuck(), num_workers=1))
    print(os.read(r, 64).decode().strip(), flush=True)
    next(it)
''')

# A rank that stops its stuck worker itself (as Process.terminate and interpreter shutdown do),
# then exits with an iterator over two more workers still open.
RANK_STOPS_WORKERS = textwrap.dedent('''
    import os, signal, sys, time
    import mmdet_droploss.compat.process_lifetime  # noqa: F401
    import torch.utils.data as data
    class Slow(data.Dataset):
        def __len__(self):
            return 100
        def __getitem__(self, i):
            time.sleep(0.01 if i < 50 else 600)
            return i
    it = iter(data.DataLoader(Slow(), num_workers=2))
    assert next(it) == 0
    workers = [w.pid for w in it._workers]
    os.kill(workers[0], signal.SIGTERM)  # from the rank: ends the worker
    workers[0] = os.waitpid(workers[0], 0)[0] and -1
    print('ok', workers[1], flush=True)
''')

SLEEPER = textwrap.dedent('''
    import time
    import mmdet_droploss.compat.process_lifetime  # noqa: F401
    print('ready', flush=True)
    time.sleep(600)
''')


def _tree(child_code, env_extra=None):
    """Start parent -> child; return (parent Popen, parent proc, child proc, child's line)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    parent = subprocess.Popen([sys.executable, '-c', PARENT, child_code, repr(env_extra or {})],
                              env=env, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    line = parent.stdout.readline().split()
    assert line, 'the parent did not start its child'
    child_pid = int(line[0])
    return (parent, (parent.pid, stat(parent.pid)[2]), (child_pid, stat(child_pid)[2]),
            line[1] if len(line) > 1 else '')


def _kill_parent(parent):
    parent.kill()
    parent.wait()


def test_a_stuck_data_loader_worker_dies_with_its_rank_and_ignores_sigterm():
    parent, parent_proc, rank, worker_line = _tree(STUCK_WORKER)
    worker = (int(worker_line), stat(int(worker_line))[2])
    procs = [parent_proc, rank, worker]
    try:
        assert stat(worker[0])[1] == rank[0]  # the worker is the rank's child
        os.kill(worker[0], signal.SIGTERM)  # preemption is the rank's business
        time.sleep(0.5)
        assert alive(worker)
        os.kill(rank[0], signal.SIGKILL)  # the rank dies (out-of-memory killer)
        assert not wait_gone([worker], timeout=30), 'worker outlived its rank'
    finally:
        kill_all(procs)
        _kill_parent(parent)


def test_sigterm_from_the_rank_ends_a_worker_and_a_rank_with_workers_exits():
    """The rank's own SIGTERM still stops a worker, and interpreter shutdown (which terminates
    daemonic workers, then joins them) does not hang on the other."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, '-c', RANK_STOPS_WORKERS], env=env, cwd=REPO_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:]
    line = proc.stdout.strip().splitlines()[-1].split()
    assert line[0] == 'ok'
    info = stat(int(line[1]))
    assert info is None or info[0] == 'Z'


def test_a_torchrun_rank_dies_with_the_launcher():
    parent, parent_proc, rank, line = _tree(SLEEPER, {'TORCHELASTIC_RUN_ID': 'test'})
    try:
        assert line == 'ready'
        _kill_parent(parent)  # torchrun SIGKILLed
        assert not wait_gone([rank], timeout=30), 'rank outlived the launcher'
    finally:
        kill_all([parent_proc, rank])


def test_without_torchrun_a_process_survives_its_parent():
    """`nohup python tools/train.py &` must survive its shell: no parent-death signal."""
    parent, parent_proc, child, line = _tree(SLEEPER)
    try:
        assert line == 'ready'
        _kill_parent(parent)
        time.sleep(1)
        assert alive(child)
    finally:
        kill_all([parent_proc, child])
