"""LVIS evaluation: ``FastLVISMetric`` (registered in mmdet's ``METRICS``), its backends,
AP-Fixed / AP-Pool (Dave et al. 2021), and its split into shares evaluated in parallel."""
from .fixed_ap import (DEFAULT_DETS_PER_CLASS, PerClassTopK, evaluate_fixed, select_fixed,
                       top_k_per_class)
from .lvis_backends import (BACKENDS, MAX_DETS_PER_IMAGE, LVISEvaluation, accumulate, evaluate,
                            limit_detections_per_image, load_ground_truth)
from .lvis_metric import FastLVISMetric
from .lvis_summary import summarize
from .pooled_ap import POOLS, PoolRecords, evaluate_pooled, pool_records, pooled_ap
from .shares import ShareResult, ShareTask, evaluate_share, make_tasks, merge, split_categories

__all__ = [
    'BACKENDS', 'DEFAULT_DETS_PER_CLASS', 'MAX_DETS_PER_IMAGE', 'POOLS', 'FastLVISMetric',
    'LVISEvaluation', 'PerClassTopK', 'PoolRecords', 'ShareResult', 'ShareTask', 'accumulate',
    'evaluate', 'evaluate_fixed', 'evaluate_pooled', 'evaluate_share',
    'limit_detections_per_image', 'load_ground_truth', 'make_tasks', 'merge', 'pool_records',
    'pooled_ap', 'select_fixed', 'split_categories', 'summarize', 'top_k_per_class'
]
