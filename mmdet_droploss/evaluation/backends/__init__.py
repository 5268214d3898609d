"""The LVIS evaluators (layer 2) behind one interface (``base.Backend``): the ``lvis`` package
(``lvis_package``) and faster-coco-eval's driver (``faster/``), picked by name
(``registry``); AP-Pool's per-pair matching (``pair_view``); the public evaluation functions
on result dicts or columns (``evaluate``)."""
from .base import LVISEvaluation, PrecisionRecall
from .evaluate import accumulate, capped, evaluate, evaluate_fixed, evaluate_pooled
from .pair_view import pool_records
from .registry import (BACKENDS, backend_named, category_frequencies, check_backend,
                       ground_truth_from_dataset, ground_truth_ids, load_ground_truth)

__all__ = ['BACKENDS', 'LVISEvaluation', 'PrecisionRecall', 'accumulate', 'backend_named',
           'capped', 'category_frequencies', 'check_backend', 'evaluate', 'evaluate_fixed',
           'evaluate_pooled', 'ground_truth_from_dataset', 'ground_truth_ids',
           'load_ground_truth', 'pool_records']
