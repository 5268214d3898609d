"""Training hooks, registered in mmdet's ``HOOKS`` registry."""
from .category_check import CategoryMismatchError, CheckCategoriesHook, category_problems
from .gradient_stats import GradientStatsHook

__all__ = ['CategoryMismatchError', 'CheckCategoriesHook', 'GradientStatsHook', 'category_problems']
