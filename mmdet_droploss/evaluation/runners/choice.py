"""Which runner evaluates a round's shares, from ``FastLVISMetric(nproc=...)`` and the run."""
from __future__ import annotations

import os
from typing import Optional

from mmengine.dist import get_world_size, is_distributed

from .base import InProcess, Runner
from .process_pool import ProcessPool
from .ranks import Distributed


def runner_for(nproc: Optional[int], collect_device: str = 'cpu',
               collect_dir: Optional[str] = None, ann_file: Optional[str] = None,
               masks: bool = False, backend: str = 'faster_coco_eval') -> Runner:
    """Who evaluates: in a distributed run, the first ``nproc`` ranks (default all); in one
    process, a pool of ``nproc`` worker processes (default 1: this process), which read the
    ground truth from ``ann_file`` when it is a local file (and, with ``masks``, prepare its
    segmentations for ``backend``) when they start."""
    world = get_world_size() if is_distributed() else 1
    if world > 1:
        shares = min(nproc or world, world)
        return Distributed(shares, collect_device == 'cpu', collect_dir) if shares > 1 \
            else InProcess(1)
    if (nproc or 1) == 1:
        return InProcess(1)
    return ProcessPool(nproc, ann_file if ann_file and os.path.isfile(ann_file) else None,
                       masks, backend)


__all__ = ['runner_for']
