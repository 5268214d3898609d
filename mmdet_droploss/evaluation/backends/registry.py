"""The back ends by name, and what the rest of the package asks of a ground truth through them.

``faster_coco_eval`` (default) and ``lvis``. faster-coco-eval's driver is imported when this
module is: if the package is missing, only ``backend='lvis'`` works, and asking for the other
says how to install it.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from .base import Backend
from .lvis_package import LVISPackage

try:
    from .faster import FasterCOCOEval
    _FASTER_MISSING = None
except ImportError as error:  # faster-coco-eval not installed
    FasterCOCOEval, _FASTER_MISSING = None, error

BACKENDS = ('faster_coco_eval', 'lvis')


def check_backend(backend: str) -> None:
    """Raise for an unknown back end, or faster-coco-eval's when it is not installed."""
    if backend not in BACKENDS:
        raise ValueError(f'Unknown LVIS evaluation backend {backend!r}: use one of {BACKENDS}.')
    if backend == 'faster_coco_eval' and _FASTER_MISSING is not None:
        raise ImportError(
            "backend='faster_coco_eval' needs the faster-coco-eval package: "
            "pip install 'faster-coco-eval==1.8.0', or use backend='lvis'.") \
            from _FASTER_MISSING


def backend_named(backend: str) -> Backend:
    check_backend(backend)
    return FasterCOCOEval() if backend == 'faster_coco_eval' else LVISPackage()


def load_ground_truth(ann_file: str, backend: str):
    """The ground-truth API object the backend evaluates against."""
    return backend_named(backend).load_ground_truth(ann_file)


def ground_truth_from_dataset(dataset: dict, backend: str):
    """The ground-truth API object of an LVIS-format dict (no file): a share's ground truth."""
    return backend_named(backend).ground_truth_from_dataset(dataset)


def ground_truth_ids(gt, backend: str) -> tuple:
    """(sorted category ids, image ids) of a ground-truth API object."""
    return backend_named(backend).ids(gt)


def category_frequencies(gt, cat_ids: Sequence[int]) -> List[str]:
    """The frequency group ('r', 'c', 'f') of each of ``cat_ids`` in a ground-truth object."""
    frequency: Dict[int, str] = {c['id']: c['frequency'] for c in gt.dataset['categories']}
    return [frequency[c] for c in cat_ids]


__all__ = ['BACKENDS', 'backend_named', 'category_frequencies', 'check_backend',
           'ground_truth_from_dataset', 'ground_truth_ids', 'load_ground_truth']
