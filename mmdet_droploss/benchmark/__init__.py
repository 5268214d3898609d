"""The built-in loss benchmark (``tools/benchmark.py``): its designs, runs, the paper's
preconditions measured on the BCE runs, the calibration on methods whose LVIS ranking is
published, and the report."""
from .calibration import CALIBRATION_METHODS, Check, calibrate, verdict
from .designs import DEFAULT_DESIGN, DESIGNS, FROZEN_DESIGN, BenchmarkDesign
from .plan import DEFAULT_METHODS, HELD_OUT_METHODS, METHODS, BenchmarkRun, plan_runs
from .preconditions import Criterion, check_preconditions
from .report import results_by_method, write_report

__all__ = ['CALIBRATION_METHODS', 'Check', 'calibrate', 'verdict', 'DEFAULT_DESIGN', 'DESIGNS',
           'FROZEN_DESIGN', 'BenchmarkDesign', 'DEFAULT_METHODS', 'HELD_OUT_METHODS', 'METHODS',
           'BenchmarkRun', 'plan_runs', 'Criterion', 'check_preconditions', 'results_by_method',
           'write_report']
