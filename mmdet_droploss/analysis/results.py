"""Collect LVIS results from mmengine work dirs; tables and Pareto fronts (paper Table 1, Fig. 3).

A *run* is one work dir. Its metrics are the last LVIS record mmengine wrote there: the
``<timestamp>/<timestamp>.json`` of ``tools/test.py`` or the ``<timestamp>/vis_data/scalars.json``
of validation during training (the newest timestamp wins). Runs of the same config (seeds) are
grouped by the name of the config dumped in the work dir. A metric of -1 (LVIS's value for a
frequency group without any category in the evaluation set) counts as missing.
"""
from __future__ import annotations

import csv
import glob
import io
import json
import math
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

# Columns of the paper's tables: mask AP, its groups, box AP and mask AR; then mask AP-Fixed
# (Dave et al. 2021) and its rare group, shown only where some run has them
# (FastLVISMetric(fixed_ap=K)).
COLUMNS: Tuple[Tuple[str, str], ...] = (
    ('AP', 'lvis/segm_AP'), ('APr', 'lvis/segm_APr'), ('APc', 'lvis/segm_APc'),
    ('APf', 'lvis/segm_APf'), ('AP_bbox', 'lvis/bbox_AP'), ('AR', 'lvis/segm_AR'),
    ('AP_fixed', 'lvis/segm_AP_fixed'), ('APr_fixed', 'lvis/segm_APr_fixed'))
OPTIONAL_COLUMNS = ('AP_fixed', 'APr_fixed')
_TIMESTAMP = re.compile(r'\d{8}_\d{6}$')


@dataclass
class Run:
    work_dir: str
    config: str
    metrics: Dict[str, float]


@dataclass
class ConfigResult:
    config: str
    runs: List[Run]
    mean: Dict[str, float]
    std: Dict[str, float]  # sample standard deviation (n - 1); 0 for a single run


def _records(path: str) -> Iterable[dict]:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def last_lvis_record(work_dir: str) -> Optional[Dict[str, float]]:
    """The newest record with LVIS metrics in a work dir, or ``None``."""
    for stamp_dir in sorted(glob.glob(osp.join(work_dir, '*')), reverse=True):
        name = osp.basename(stamp_dir)
        if not (osp.isdir(stamp_dir) and _TIMESTAMP.match(name)):
            continue
        for path in (osp.join(stamp_dir, f'{name}.json'),
                     osp.join(stamp_dir, 'vis_data', 'scalars.json')):
            if osp.isfile(path):
                found = [r for r in _records(path) if 'lvis/bbox_AP' in r or 'lvis/segm_AP' in r]
                if found:
                    return {k: float(v) for k, v in found[-1].items()
                            if k.startswith('lvis/')}
    return None


def config_name(work_dir: str) -> str:
    """The config a work dir was trained or tested with (mmengine dumps it there)."""
    dumped = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if dumped:
        return osp.splitext(osp.basename(dumped[0]))[0]
    return re.sub(r'[_-](s|seed)\d+$', '', osp.basename(osp.normpath(work_dir)))


def collect(work_dirs: Sequence[str]) -> List[ConfigResult]:
    """Group the runs by config; mean and sample std of every column."""
    by_config: Dict[str, List[Run]] = {}
    for work_dir in work_dirs:
        metrics = last_lvis_record(work_dir)
        if metrics is None:
            raise FileNotFoundError(f'{work_dir}: no LVIS metrics found (run tools/test.py, or '
                                    'train with validation, first).')
        run = Run(work_dir, config_name(work_dir), metrics)
        by_config.setdefault(run.config, []).append(run)
    return [config_result(config, runs) for config, runs in by_config.items()]


def config_result(config: str, runs: List[Run],
                  columns: Sequence[Tuple[str, str]] = COLUMNS) -> ConfigResult:
    """Mean and sample std over ``runs`` of each ``(column, metric key)`` of ``columns``."""
    mean, std = {}, {}
    for column, key in columns:
        values = [r.metrics[key] for r in runs if r.metrics.get(key, -1.0) >= 0]
        if not values:
            continue
        mean[column] = sum(values) / len(values)
        std[column] = (math.sqrt(sum((v - mean[column]) ** 2 for v in values) /
                                 (len(values) - 1)) if len(values) > 1 else 0.0)
    return ConfigResult(config, runs, mean, std)


def table_columns(results: Sequence[ConfigResult],
                  columns: Sequence[Tuple[str, str]] = COLUMNS) -> List[str]:
    """The columns to show: all of ``columns`` (the paper's), the optional ones where some run
    has them."""
    return [c for c, _ in columns
            if c not in OPTIONAL_COLUMNS or any(c in r.mean for r in results)]


def _cell(result: ConfigResult, column: str, scale: float) -> str:
    if column not in result.mean:
        return '-'
    if len(result.runs) == 1:
        return f'{result.mean[column] * scale:.1f}'
    return f'{result.mean[column] * scale:.1f} ± {result.std[column] * scale:.1f}'


def markdown_table(results: Sequence[ConfigResult], percent: bool = True,
                   columns: Sequence[Tuple[str, str]] = COLUMNS) -> str:
    """The paper-style table: mean ± std over runs (in %) per config."""
    scale = 100.0 if percent else 1.0
    columns = table_columns(results, columns)
    header = ['config', 'runs'] + columns
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in results:
        cells = [r.config, str(len(r.runs))] + [_cell(r, c, scale) for c in columns]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def csv_table(results: Sequence[ConfigResult],
              columns: Sequence[Tuple[str, str]] = COLUMNS) -> str:
    """Mean and std (fractions, not %) of every column per config, as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = table_columns(results, columns)
    writer.writerow(['config', 'runs'] +
                    [f'{c}_{stat}' for c in columns for stat in ('mean', 'std')])
    for r in results:
        row: List[object] = [r.config, len(r.runs)]
        for column in columns:
            row += ([f'{r.mean[column]:.6f}', f'{r.std[column]:.6f}'] if column in r.mean
                    else ['', ''])
        writer.writerow(row)
    return out.getvalue()


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the points no other point beats on both coordinates (larger is better),
    ordered by the first coordinate."""
    front = [i for i, (x, y) in enumerate(points)
             if not any((x2 >= x and y2 >= y) and (x2 > x or y2 > y) for x2, y2 in points)]
    return sorted(front, key=lambda i: points[i][0])


def plot_pareto(results: Sequence[ConfigResult], out_file: str) -> None:
    """APr-vs-APf and APc-vs-APf, one point per config (mean, with std bars), and the front."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, column in zip(axes, ('APr', 'APc')):
        usable = [r for r in results if column in r.mean and 'APf' in r.mean]
        points = [(r.mean['APf'] * 100, r.mean[column] * 100) for r in usable]
        for r, (x, y) in zip(usable, points):
            ax.errorbar(x, y, xerr=r.std['APf'] * 100, yerr=r.std[column] * 100, fmt='o',
                        capsize=3)
            ax.annotate(r.config, (x, y), textcoords='offset points', xytext=(4, 4), fontsize=7)
        front = pareto_front(points)
        if len(front) > 1:
            ax.plot([points[i][0] for i in front], [points[i][1] for i in front], '--',
                    color='gray', label='Pareto front')
            ax.legend(fontsize=8)
        ax.set_xlabel('APf (%)')
        ax.set_ylabel(f'{column} (%)')
        ax.grid(alpha=0.3)
    fig.suptitle('Rare/common vs frequent trade-off (mask AP)')
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
