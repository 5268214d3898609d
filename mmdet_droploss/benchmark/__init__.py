"""The built-in loss benchmark (``tools/benchmark.py``): its designs, runs, the paper's
preconditions measured on the BCE runs, the calibration on methods whose LVIS ranking is
published, the held-out methods against their published results, and the report."""
from .calibration import CALIBRATION_METHODS, Check, calibrate, verdict
from .designs import DEFAULT_DESIGN, DESIGNS, FROZEN_DESIGN, BenchmarkDesign
from .plan import DEFAULT_METHODS, HELD_OUT_METHODS, METHODS, BenchmarkRun, plan_runs
from .predictions import PUBLISHED_ORDERINGS, predict
from .preconditions import Criterion, check_preconditions
from .report import results_by_method, write_report

__all__ = ['CALIBRATION_METHODS', 'Check', 'calibrate', 'verdict', 'DEFAULT_DESIGN', 'DESIGNS',
           'FROZEN_DESIGN', 'BenchmarkDesign', 'DEFAULT_METHODS', 'HELD_OUT_METHODS', 'METHODS',
           'BenchmarkRun', 'plan_runs', 'PUBLISHED_ORDERINGS', 'predict', 'Criterion',
           'check_preconditions', 'results_by_method', 'write_report']
