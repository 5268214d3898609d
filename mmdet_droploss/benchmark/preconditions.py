"""The regime the paper's argument needs, measured on the benchmark's BCE runs.

DropLoss is designed for a detector whose rare classes receive most of their discouraging
gradient from background proposals (paper Fig. 1a: 50-70 % on LVIS, against 30-40 % for frequent
classes) and end up scored far below frequent classes on background (Fig. 1b). The benchmark
states these as criteria, fixed before any method is compared, and reports whether its data
meets them:

1. the rare classes' background share of the (unweighted, plain-BCE) discouraging gradient is
   at least ``RARE_SHARE_MIN``;
2. it exceeds the frequent classes' share by at least ``SHARE_GAP_MIN``;
3. the mean rare-class score on background proposals is at least ``SCORE_RATIO_MIN`` times
   below the frequent one;
4. BCE's mask APr is below its APf by at least ``AP_GAP_MIN`` (LVIS AP as a fraction);
5. EQLv2's premise (Tan et al. 2021, Fig. 1): the ratio of accumulated positive to negative
   (unweighted) gradient is far lower for rare classes than for frequent ones: the frequent
   group's ratio is at least ``POS_NEG_RATIO_MIN`` times the rare group's.

Each figure is the mean over the BCE runs (seeds).
"""
from __future__ import annotations

import json
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence

from ..analysis.results import last_lvis_record

RARE_SHARE_MIN = 0.5
SHARE_GAP_MIN = 0.15
SCORE_RATIO_MIN = 10.0
AP_GAP_MIN = 0.05
POS_NEG_RATIO_MIN = 2.0

GRADIENT_FILE = 'gradient_stats.json'
SCORES_FILE = 'background_scores.json'


@dataclass
class Criterion:
    name: str
    value: Optional[float]  # None: not measured (files missing)
    threshold: float
    passed: bool
    detail: str = ''


def _unweighted_groups(work_dir: str) -> Optional[dict]:
    """The unweighted per-group summary (``gradient_stats.group_summary``) of the run's first
    classification head, or ``None`` without the file."""
    path = osp.join(work_dir, GRADIENT_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        stats = json.load(f)
    return next(iter(stats['heads'].values()))['summary']['unweighted']


def group_shares(groups: dict) -> dict:
    """Per group ``{'r', 'c', 'f'}`` of an unweighted group summary: the background share of
    the discouraging gradient."""
    return {g: groups[g]['background_share'] for g in 'rcf'}


def group_ratios(groups: dict) -> dict:
    """Per group of an unweighted group summary: accumulated positive over negative
    (foreground + background) gradient (EQLv2's statistic); NaN without negatives."""
    ratios = {}
    for g in 'rcf':
        negative = groups[g]['negative_foreground'] + groups[g]['negative_background']
        ratios[g] = groups[g]['positive'] / negative if negative > 0 else float('nan')
    return ratios


def background_shares(work_dir: str) -> Optional[dict]:
    """Per group: the background share of the unweighted discouraging gradient over the whole
    run (first classification head), or ``None`` without the file."""
    groups = _unweighted_groups(work_dir)
    return None if groups is None else group_shares(groups)


def positive_negative_ratios(work_dir: str) -> Optional[dict]:
    """Per group: accumulated positive over negative gradient of the unweighted loss over the
    whole run (EQLv2's statistic), or ``None`` without the file."""
    groups = _unweighted_groups(work_dir)
    return None if groups is None else group_ratios(groups)


def background_score_means(work_dir: str) -> Optional[dict]:
    """Per group: the mean class score on background proposals (``tools/
    analyze_background_scores.py`` output in the work dir), or ``None``."""
    path = osp.join(work_dir, SCORES_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        scores = json.load(f)
    return {g: scores['groups'][g]['mean_score'] for g in 'rcf'}


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    values = [v for v in values if v is not None and v == v]
    return sum(values) / len(values) if values else None


def check_preconditions(bce_work_dirs: Sequence[str]) -> List[Criterion]:
    """The five criteria, each from the mean over the given BCE runs."""
    metrics = [m for m in map(last_lvis_record, bce_work_dirs) if m]
    return precondition_criteria(
        [s for s in map(background_shares, bce_work_dirs) if s],
        [s for s in map(positive_negative_ratios, bce_work_dirs) if s],
        [s for s in map(background_score_means, bce_work_dirs) if s],
        [(m.get('lvis/segm_APr', -1), m.get('lvis/segm_APf', -1)) for m in metrics])


def precondition_criteria(shares: Sequence[dict], pos_neg: Sequence[dict],
                          scores: Sequence[dict],
                          ap_rare_frequent: Sequence[tuple],
                          ap_kind: str = 'mask') -> List[Criterion]:
    """The five criteria from per-run figures: background shares, positive-to-negative
    ratios and background score means (each ``{'r', 'c', 'f'} -> value``), and (APr, APf)
    pairs (-1: not measured) of ``ap_kind`` AP."""
    ratio_r = _mean([s['r'] for s in pos_neg])
    ratio_f = _mean([s['f'] for s in pos_neg])
    rare = _mean([s['r'] for s in shares])
    frequent = _mean([s['f'] for s in shares])
    score_r = _mean([s['r'] for s in scores])
    score_f = _mean([s['f'] for s in scores])
    ap_r = _mean([r for r, _ in ap_rare_frequent if r >= 0])
    ap_f = _mean([f for _, f in ap_rare_frequent if f >= 0])

    def criterion(name, value, threshold, detail):
        return Criterion(name, value, threshold, value is not None and value >= threshold, detail)

    gap = None if rare is None or frequent is None else rare - frequent
    ratio = None if not score_r or score_f is None else score_f / score_r
    ap_gap = None if ap_r is None or ap_f is None else ap_f - ap_r
    pos_neg_gap = None if not ratio_r or ratio_f is None else ratio_f / ratio_r
    fmt = (lambda v, spec='.3f': 'n/a' if v is None else format(v, spec))
    return [
        criterion('rare background share of the discouraging gradient', rare, RARE_SHARE_MIN,
                  f'rare {fmt(rare)}, common {fmt(_mean([s["c"] for s in shares]))}, '
                  f'frequent {fmt(frequent)} ({len(shares)} BCE runs)'),
        criterion('rare minus frequent background share', gap, SHARE_GAP_MIN,
                  f'{fmt(rare)} - {fmt(frequent)}'),
        criterion('frequent / rare mean score on background proposals', ratio, SCORE_RATIO_MIN,
                  f'rare {fmt(score_r, ".2e")}, common {fmt(_mean([s["c"] for s in scores]), ".2e")}, '
                  f'frequent {fmt(score_f, ".2e")} ({len(scores)} BCE runs)'),
        criterion(f'BCE {ap_kind} APf minus APr', ap_gap, AP_GAP_MIN,
                  f'APf {fmt(ap_f)}, APr {fmt(ap_r)} ({len(ap_rare_frequent)} BCE runs)'),
        criterion('frequent / rare positive-to-negative gradient ratio (EQLv2)', pos_neg_gap,
                  POS_NEG_RATIO_MIN,
                  f'rare {fmt(ratio_r)}, common {fmt(_mean([s["c"] for s in pos_neg]))}, '
                  f'frequent {fmt(ratio_f)} ({len(pos_neg)} BCE runs)'),
    ]
