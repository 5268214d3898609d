"""How a pool worker starts: this file, run as a script by ``process_pool.ProcessPool``.

A pool worker needs the evaluation's lower layers (columns, protocol, backends, shares): numpy
and the evaluator. Importing any module of this package the ordinary way first runs
``mmdet_droploss/__init__`` (which registers everything in mmdet's registries: torch, mmcv,
mmdet, mmengine, about 4 s of CPU) and ``evaluation/__init__`` (the metric: mmdet again). A
worker that paid that would compete with the model, or with the records, for the CPUs. So
the pool runs this file by path, with the parent's interpreter and its start arguments as
JSON on the command line (the parent's ``sys.path``, the packages to declare bare, the
annotation file): stdlib only until :func:`bare_packages` has declared the package and the
sub-packages whose ``__init__`` would import the heavy stack as plain folders (their
``__init__`` is not run; every module inside imports as usual), then the worker's loop
(``pool_worker.serve``) is imported and run.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import signal
import sys
from typing import Sequence


def bare_packages(packages: Sequence[Sequence[str]]) -> None:
    """Declare each ``(name, folder)`` a package whose ``__init__`` is not run: its modules
    import from ``folder`` as usual, but the package itself exports nothing."""
    for name, folder in packages:
        if name in sys.modules:
            continue
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [folder]
        sys.modules[name] = importlib.util.module_from_spec(spec)


if __name__ == '__main__':  # a pool worker: ``python worker_entry.py '<start as JSON>'``
    # Ctrl-C reaches the whole process group: the parent handles it, and closing the pool
    # (or the parent's death) ends this process through the end of its orders
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _start = json.loads(sys.argv[1])  # dict(sys_path, packages, ann_file, backend, masks)
    sys.path[:] = _start['sys_path']  # the parent's (a script may have added the package's)
    bare_packages(_start['packages'])
    from mmdet_droploss.evaluation.runners.pool_worker import serve
    serve(_start)
