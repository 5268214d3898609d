"""The held-out comparison: what the calibrated benchmark predicts for the methods it was not
calibrated on, against their published LVIS results.

The held-out methods (DropLoss, DropLoss + RFS, BEQL b = 4, the fixed drop ratio 0.5) run only
on the frozen design. Each published ordering below is checked on the benchmark as the
calibration checks are (:func:`.calibration.ordering_check`: the gap must beat the larger seed
standard deviation), with three outcomes: the benchmark *agrees* with LVIS, *reverses* it, or
cannot tell the two apart (*tie*). Mask AP, %:

=====================  ===========  ==================  ====================================
ordering (low < high)  column       published           source
=====================  ===========  ==================  ====================================
BCE < DropLoss         APr, AP      0.7 < 3.5, 16.2 <   DropLoss paper, Table 2 (LVIS v1,
                                    19.8                Mask R-CNN R50)
EQL < DropLoss         APr, AP      2.5 < 3.5, 18.4 <   same
                                    19.8
EQL + RFS < DropLoss   APr, AP      9.1 < 12.4, 21.0 <  same
+ RFS                               22.3
BEQL (b = 4) <         AP           25.2 < 25.5         DropLoss paper, Table 3 (LVIS v0.5)
DropLoss
DropLoss < BEQL        APr          13.2 < 14.6         same
(b = 4)
=====================  ===========  ==================  ====================================

The fixed drop ratio has no published figure (the paper's Fig. 3 plots it without numbers): its
row is reported, not compared.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

from ..analysis.results import ConfigResult
from .calibration import ordering_check

_TABLE2 = 'DropLoss paper, Table 2 (LVIS v1)'
_TABLE3 = 'DropLoss paper, Table 3 (LVIS v0.5)'


@dataclass(frozen=True)
class PublishedOrdering:
    low: str  # a method name of ``plan.METHODS``
    high: str
    column: str  # 'APr' or 'AP'
    published: Tuple[float, float]  # (low, high), mask AP in %
    source: str


PUBLISHED_ORDERINGS: Tuple[PublishedOrdering, ...] = (
    PublishedOrdering('bce', 'droploss', 'APr', (0.7, 3.5), _TABLE2),
    PublishedOrdering('bce', 'droploss', 'AP', (16.2, 19.8), _TABLE2),
    PublishedOrdering('eql', 'droploss', 'APr', (2.5, 3.5), _TABLE2),
    PublishedOrdering('eql', 'droploss', 'AP', (18.4, 19.8), _TABLE2),
    PublishedOrdering('eql_rfs', 'droploss_rfs', 'APr', (9.1, 12.4), _TABLE2),
    PublishedOrdering('eql_rfs', 'droploss_rfs', 'AP', (21.0, 22.3), _TABLE2),
    PublishedOrdering('beql', 'droploss', 'AP', (25.2, 25.5), _TABLE3),
    PublishedOrdering('droploss', 'beql', 'APr', (13.2, 14.6), _TABLE3),
)


@dataclass
class Prediction:
    ordering: PublishedOrdering
    outcome: str  # 'agrees', 'reverses', 'tie' or 'not measured'
    detail: str


def predict(results: Dict[str, ConfigResult],
            orderings: Sequence[PublishedOrdering] = PUBLISHED_ORDERINGS) -> List[Prediction]:
    """Each published ordering whose methods ran, as the benchmark's results rank them."""
    predictions = []
    for o in orderings:
        if o.low not in results or o.high not in results:
            predictions.append(Prediction(o, 'not measured', ''))
            continue
        low, high = results[o.low], results[o.high]
        same = ordering_check(low, high, o.column)
        reverse = ordering_check(high, low, o.column)
        outcome = 'agrees' if same.passed else 'reverses' if reverse.passed else 'tie'
        predictions.append(Prediction(o, outcome, same.detail))
    return predictions


def predictions_table(predictions: Sequence[Prediction],
                      labels: Dict[str, str]) -> str:
    lines = ['| published ordering | LVIS (%) | benchmark (%) | outcome | source |',
             '|---|---|---|---|---|']
    for p in predictions:
        o = p.ordering
        name = f'{o.column}: {labels.get(o.low, o.low)} < {labels.get(o.high, o.high)}'
        outcome = p.outcome if p.outcome == 'agrees' else f'**{p.outcome}**'
        lines.append(f'| {name} | {o.published[0]:g} < {o.published[1]:g} | {p.detail} | '
                     f'{outcome} | {o.source} |')
    return '\n'.join(lines)
