"""Training hooks, registered in mmdet's ``HOOKS`` registry."""
from .category_check import CategoryMismatchError, CheckCategoriesHook, category_problems
from .gradient_stats import GradientStatsHook
from .preemption import PREEMPTED_EXIT_CODE, Preempted, PreemptionHook

__all__ = ['CategoryMismatchError', 'CheckCategoriesHook', 'GradientStatsHook', 'category_problems',
           'PREEMPTED_EXIT_CODE', 'Preempted', 'PreemptionHook']
