"""LVIS evaluation: ``FastLVISMetric`` (registered in mmdet's ``METRICS``) and its backends."""
from .lvis_backends import (BACKENDS, MAX_DETS_PER_IMAGE, LVISEvaluation, evaluate,
                            limit_detections_per_image, load_ground_truth)
from .lvis_metric import FastLVISMetric

__all__ = [
    'BACKENDS', 'MAX_DETS_PER_IMAGE', 'FastLVISMetric', 'LVISEvaluation', 'evaluate',
    'limit_detections_per_image', 'load_ground_truth'
]
