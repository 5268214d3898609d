"""A pool worker's loop (what one of ``process_pool.ProcessPool``'s processes does), and the
messages between the pool and its workers.

A worker was started by ``worker_entry.py``, so the only modules of the package it imports are
the evaluation's lower layers (no torch, no mmdet: see there why). It first reads the
annotation file, if it was given one (and, for segm, prepares its masks), and replies that it
started; then, for every order, it evaluates the share pickled in the file the order names and
replies with the result, or with the traceback if evaluating raised (the worker then serves
on). It ends when its orders end: the pool closed them, or the parent died; a worker busy with
a share then leaves when it replies (the pool closes its replies' pipe too).

Messages (:func:`send`, :func:`receive`) are pickles framed by their length, on the worker's
stdin (orders) and a copy of its stdout (replies); the worker's own stdout goes to its stderr,
so that nothing a library prints can corrupt a reply.
"""
from __future__ import annotations

import os
import pickle
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO, Tuple

from ..shares import ShareResult, evaluate_share, ground_truth_dataset

# modules whose presence in a worker would mean it imported the training stack, or the lvis
# package's plotting (the lvis back end's, at first use), for nothing (a test checks)
HEAVY_MODULES = ('torch', 'mmcv', 'mmdet', 'mmengine', 'matplotlib')
_LENGTH = struct.Struct('<Q')


def send(stream: BinaryIO, message: Any) -> None:
    """Write one message (any picklable object) and flush it."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def receive(stream: BinaryIO) -> Any:
    """The next message; ``EOFError`` when the other side closed its end (or died)."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError('the other end of the pipe was closed')
    size = _LENGTH.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError('the other end of the pipe was closed mid-message')
    return pickle.loads(data)


def worker_streams() -> Tuple[BinaryIO, BinaryIO]:
    """(orders, replies): this process's stdin and stdout as private streams; fd 0 becomes
    ``/dev/null`` and fd 1 a copy of stderr, for whatever else reads or prints."""
    orders = os.fdopen(os.dup(0), 'rb')
    replies = os.fdopen(os.dup(1), 'wb')
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return orders, replies


def serve(start: dict) -> None:
    """Start (read the ground truth), then evaluate each ordered share until the orders end.
    ``start``: ``ann_file`` (or ``None``), ``backend`` and ``masks`` (segm is evaluated)."""
    orders, replies = worker_streams()
    try:
        if start['ann_file'] is not None:
            ground_truth_dataset(start['ann_file'], start['backend'], start['masks'])
        started = ('started', dict(pid=os.getpid(), cpu_seconds=time.process_time(),
                                   heavy=[m for m in HEAVY_MODULES if m in sys.modules]))
    except Exception:  # reported to the pool; a task would read the file again
        started = ('failed', traceback.format_exc())
    if not _reply(replies, started):
        return
    while True:
        try:
            path = receive(orders)
        except EOFError:  # the pool closed the pipe, or its process died
            return
        try:
            reply = ('done', _evaluate_file(path))
        except Exception:
            reply = ('failed', traceback.format_exc())
        if not _reply(replies, reply):
            return
        del reply  # a share's arrays and records: not held while waiting for the next


def _reply(replies: BinaryIO, message: tuple) -> bool:
    """Send ``message``; ``False`` when the pool no longer reads (it is closing)."""
    try:
        send(replies, message)
    except BrokenPipeError:
        return False
    return True


def _evaluate_file(path: str) -> ShareResult:
    """The share pickled at ``path`` (removed once read), evaluated."""
    with open(path, 'rb') as f:
        task = pickle.load(f)
    os.remove(path)
    return evaluate_share(task)


__all__ = ['HEAVY_MODULES', 'receive', 'send', 'serve', 'worker_streams']
