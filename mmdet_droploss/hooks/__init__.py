"""Training hooks, registered in mmdet's ``HOOKS`` registry."""
from .category_check import CategoryMismatchError, CheckCategoriesHook, category_problems
from .gradient_stats import GradientStatsHook
from .preemption import PREEMPTED_EXIT_CODE, Preempted, PreemptionHook
from .rank_zero_logger import RankZeroLoggerHook, use_rank_zero_logger

__all__ = ['CategoryMismatchError', 'CheckCategoriesHook', 'GradientStatsHook', 'category_problems',
           'PREEMPTED_EXIT_CODE', 'Preempted', 'PreemptionHook', 'RankZeroLoggerHook',
           'use_rank_zero_logger']
