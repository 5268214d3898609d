"""faster-coco-eval's driver: its ``COCOeval`` fed from numpy columns.

``ground_truth`` (the ground truth and its columns, computed once), ``results`` (results
objects from columns or dicts), ``inputs`` (what the C++ core reads, prepared in numpy),
``pair_ious`` (the pairs' IoUs from columns), ``sparse_eval`` (the evaluation over non-empty
cells only), ``backend`` (all of it behind the back-end interface).
"""
from .backend import FasterCOCOEval

__all__ = ['FasterCOCOEval']
