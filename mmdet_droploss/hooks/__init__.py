"""Training hooks, registered in mmdet's ``HOOKS`` registry."""
from .category_check import CategoryMismatchError, CheckCategoriesHook, category_problems

__all__ = ['CategoryMismatchError', 'CheckCategoriesHook', 'category_problems']
