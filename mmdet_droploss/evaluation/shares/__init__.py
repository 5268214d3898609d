"""LVIS evaluation split by category into shares that processes evaluate independently
(layer 3): the tasks (``tasks``), one share's evaluation (``evaluate``), the exact merge
(``merge``). Who evaluates the shares is the runners' business (``runners/``)."""
from .evaluate import evaluate_share
from .merge import Merged, describe, merge, share_costs
from .tasks import (CHUNK_DETECTIONS, ShareResult, ShareTask, ground_truth_dataset, make_tasks,
                    split_categories, subset_dataset)

__all__ = ['CHUNK_DETECTIONS', 'Merged', 'ShareResult', 'ShareTask', 'describe',
           'evaluate_share', 'ground_truth_dataset', 'make_tasks', 'merge', 'share_costs',
           'split_categories', 'subset_dataset']
