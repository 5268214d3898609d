"""Library code behind the analysis tools (gradient statistics, background scores, results)."""
from .gradient_stats import GROUP_NAMES, GROUPS, KINDS, PARTS, gradient_sums, group_summary

__all__ = ['GROUP_NAMES', 'GROUPS', 'KINDS', 'PARTS', 'gradient_sums', 'group_summary']
