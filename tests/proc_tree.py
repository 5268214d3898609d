"""Processes by /proc, for the fault tests: who descends from whom, alive or not, cleanup.

A process is identified by (pid, start time) so that a reused pid is never mistaken for, or
killed as, one of ours.
"""
import os
import signal
import threading
import time
from typing import Dict, Iterable, Optional, Set, Tuple

Proc = Tuple[int, int]  # (pid, start time in clock ticks since boot)


def stat(pid: int) -> Optional[Tuple[str, int, int]]:
    """(state, parent pid, start time) of ``pid``, or None if it does not exist."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def cmdline(pid: int) -> str:
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
        return ''


def environ(pid: int) -> Dict[str, str]:
    try:
        with open(f'/proc/{pid}/environ', 'rb') as f:
            items = f.read().split(b'\0')
    except OSError:
        return {}
    return dict(item.decode(errors='replace').split('=', 1) for item in items if b'=' in item)


def children_map() -> Dict[int, Set[int]]:
    children: Dict[int, Set[int]] = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            info = stat(int(name))
            if info is not None:
                children.setdefault(info[1], set()).add(int(name))
    return children


def descendants(root: int) -> Set[Proc]:
    """The living descendants of ``root`` (not ``root`` itself), with their start times."""
    children, found, todo = children_map(), set(), [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            info = stat(child)
            if info is not None and info[0] != 'Z':
                found.add((child, info[2]))
                todo.append(child)
    return found


def alive(proc: Proc) -> bool:
    info = stat(proc[0])
    return info is not None and info[2] == proc[1] and info[0] not in ('Z', 'X')


def kill_all(procs: Iterable[Proc]) -> None:
    """SIGKILL those of ``procs`` that still run (only ever processes a test started)."""
    for proc in procs:
        if alive(proc):
            try:
                os.kill(proc[0], signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_gone(procs: Iterable[Proc], timeout: float) -> Set[Proc]:
    """Wait up to ``timeout`` s for ``procs`` to end; the ones still alive."""
    deadline = time.monotonic() + timeout
    left = {p for p in procs if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p for p in left if alive(p)}
    return left


class Recorder:
    """Records every descendant of ``root`` seen while the block runs (polled every 0.1 s)."""

    def __init__(self, root: int):
        self.root, self.seen, self._stop = root, set(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.seen |= descendants(self.root)
            self._stop.wait(0.1)

    def __enter__(self):
        self.seen |= descendants(self.root)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
