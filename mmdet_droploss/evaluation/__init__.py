"""LVIS evaluation: ``FastLVISMetric`` (registered in mmdet's ``METRICS``), its backends, and
AP-Fixed / AP-Pool (Dave et al. 2021)."""
from .fixed_ap import (DEFAULT_DETS_PER_CLASS, PerClassTopK, evaluate_fixed, select_fixed,
                       top_k_per_class)
from .lvis_backends import (BACKENDS, MAX_DETS_PER_IMAGE, LVISEvaluation, evaluate,
                            limit_detections_per_image, load_ground_truth)
from .lvis_metric import FastLVISMetric
from .pooled_ap import POOLS, evaluate_pooled, pooled_view

__all__ = [
    'BACKENDS', 'DEFAULT_DETS_PER_CLASS', 'MAX_DETS_PER_IMAGE', 'POOLS', 'FastLVISMetric',
    'LVISEvaluation', 'PerClassTopK', 'evaluate', 'evaluate_fixed', 'evaluate_pooled',
    'limit_detections_per_image', 'load_ground_truth', 'pooled_view', 'select_fixed',
    'top_k_per_class'
]
