"""LVIS evaluation: ``FastLVISMetric`` (registered in mmdet's ``METRICS``), its backends,
AP-Fixed / AP-Pool (Dave et al. 2021), and its split into shares evaluated in parallel.

Sub-packages, each importing only those before it: ``columns`` (detections as numpy
columns), ``protocol`` (LVIS's rules), ``backends`` (the evaluators), ``shares`` (the split by
category), ``runners`` (who evaluates the shares), ``metric`` (the mmdet metric).
``docs/developing.md`` lists every module.
"""
from .backends import (BACKENDS, LVISEvaluation, accumulate, evaluate, evaluate_fixed,
                       evaluate_pooled, load_ground_truth, pool_records)
from .metric import FastLVISMetric
from .protocol.fixed_ap import DEFAULT_DETS_PER_CLASS, PerClassTopK, select_fixed
from .protocol.pooled_ap import POOLS, PoolRecords, pooled_ap
from .protocol.ranking import MAX_DETS_PER_IMAGE, limit_detections_per_image, top_k_per_class
from .protocol.summary import summarize
from .shares import ShareResult, ShareTask, evaluate_share, make_tasks, merge, split_categories

__all__ = [
    'BACKENDS', 'DEFAULT_DETS_PER_CLASS', 'MAX_DETS_PER_IMAGE', 'POOLS', 'FastLVISMetric',
    'LVISEvaluation', 'PerClassTopK', 'PoolRecords', 'ShareResult', 'ShareTask', 'accumulate',
    'evaluate', 'evaluate_fixed', 'evaluate_pooled', 'evaluate_share',
    'limit_detections_per_image', 'load_ground_truth', 'make_tasks', 'merge', 'pool_records',
    'pooled_ap', 'select_fixed', 'split_categories', 'summarize', 'top_k_per_class'
]
