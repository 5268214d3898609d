"""The built-in loss benchmark (``tools/benchmark.py``): its runs, the paper's preconditions
measured on the BCE runs, and the report."""
from .plan import DEFAULT_METHODS, METHODS, BenchmarkRun, plan_runs
from .preconditions import Criterion, check_preconditions
from .report import write_report

__all__ = ['DEFAULT_METHODS', 'METHODS', 'BenchmarkRun', 'plan_runs', 'Criterion', 'check_preconditions',
           'write_report']
