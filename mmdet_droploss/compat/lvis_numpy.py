"""lvis 0.5.3 (the last release on PyPI) under numpy >= 1.24.

``LVISEval.accumulate`` casts with ``dtype=np.float``, an alias numpy deprecated in 1.20 and
removed in 1.24, so every LVIS evaluation (mmdet's ``LVISMetric`` included) fails with
``AttributeError: module 'numpy' has no attribute 'float'``.

The fix is as narrow as the bug: ``lvis.eval``'s own ``np`` becomes a view of numpy that also
has the old alias (``float``, which is what ``np.float`` always was). numpy itself, and every
other module, are untouched. Nothing happens when lvis is missing, when numpy still has the
alias, or when the fix is already in place.
"""
from __future__ import annotations

import types

import numpy

# The aliases numpy removed in 1.24 that lvis 0.5.3 uses, and what they always meant.
REMOVED_ALIASES = {'float': float}


class NumpyWithAliases(types.ModuleType):
    """numpy, plus the removed aliases, for one module's eyes only."""

    def __init__(self) -> None:
        super().__init__('numpy', numpy.__doc__)
        for name, value in REMOVED_ALIASES.items():
            setattr(self, name, value)

    def __getattr__(self, name: str):
        return getattr(numpy, name)


def apply() -> bool:
    """Give ``lvis.eval`` the aliases it needs; returns whether lvis is now usable."""
    if all(hasattr(numpy, name) for name in REMOVED_ALIASES):
        return True
    try:
        from lvis import eval as lvis_eval
    except ImportError:
        return False
    if not isinstance(lvis_eval.np, NumpyWithAliases):
        lvis_eval.np = NumpyWithAliases()
    return True


apply()
