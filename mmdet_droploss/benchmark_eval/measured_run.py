"""One benchmark run in a process of its own, measured from outside and stopped at a limit.

``tools/benchmark_eval.py --generate`` runs each (back end, iou type, processes) this way:
:func:`run_measured` samples the resident memory of the run's whole process tree (from
``/proc``, workers included) twice a second and kills the tree past ``limit_gb``, so that a
run that would exhaust the machine is reported as failed instead of the kernel's OOM killer
picking a process (maybe another one); a crash, a kill or a non-zero exit is reported with
its reason. Inside a run, :func:`cpu_seconds` and :func:`peak_rss_gb` measure that process.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import threading
import time
from typing import List, Optional, Tuple


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def peak_rss_gb() -> float:
    """The highest resident memory of this process so far, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def tree_rss_gb(pid: int) -> float:
    """Resident memory of a process and all its descendants (from /proc), in GB."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    parents[int(entry)] = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier and p not in tree]
        tree.update(children)
        frontier = children
    total = 0
    for p in tree:
        try:
            with open(f'/proc/{p}/statm') as f:
                total += int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**30


def default_memory_limit_gb() -> float:
    """85 % of the machine's memory: past that a run is stopped before the kernel's OOM killer
    picks a process (maybe another one)."""
    with open('/proc/meminfo') as f:
        total_kb = int(next(line for line in f if line.startswith('MemTotal')).split()[1])
    return 0.85 * total_kb / 2**20


def run_measured(cmd: List[str], limit_gb: float) -> Tuple[Optional[str], float]:
    """Run ``cmd``; (why it failed or None, its process tree's highest sampled RSS in GB).
    A tree above ``limit_gb`` is killed and reported as such."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, 'OMP_NUM_THREADS': '1'}, start_new_session=True)
    stderr_chunks: List[str] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()),
                              daemon=True)
    reader.start()
    highest, over = 0.0, False
    while proc.poll() is None:
        rss = tree_rss_gb(proc.pid)
        highest = max(highest, rss)
        if rss > limit_gb:
            over = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.5)
    reader.join(timeout=10)
    stderr = ''.join(stderr_chunks)
    if over:
        return f'stopped: its processes held {highest:.1f} GB (limit {limit_gb:.1f} GB, ' \
            '--max-memory-gb)', highest
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        hint = ' (out of memory?)' if proc.returncode == -signal.SIGKILL else ''
        return f'killed by {name}{hint}', highest
    if proc.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()]
        errors = [line for line in lines if 'Error' in line or 'error' in line]
        return f'exit status {proc.returncode}: ' + (errors or lines or ['no output'])[-1][
            :300], highest
    return None, highest


__all__ = ['cpu_seconds', 'default_memory_limit_gb', 'peak_rss_gb', 'run_measured',
           'tree_rss_gb']
