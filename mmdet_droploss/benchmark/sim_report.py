"""The simulator benchmark's report: status, what is simulated and scaled, the generator
against LVIS, the preconditions, the calibration, the held-out orderings, the results."""
from __future__ import annotations

import dataclasses
import os
import os.path as osp
import subprocess
from typing import List, Optional, Sequence

from ..analysis.results import csv_table, markdown_table
from ..roi_sim.methods import METHODS, SIM_CALIBRATION_METHODS, SIM_HELD_OUT_METHODS
from ..roi_sim.statistics import statistics_table
from .calibration import calibration_table
from .predictions import PUBLISHED_ORDERINGS, predict, predictions_table
from .preconditions import group_ratios, group_shares, precondition_criteria
from .report import _preconditions_table, machine_description
from .sim_designs import FROZEN_SIM_DESIGN, SimulatorDesign
from .simulated import SIM_COLUMNS, SimRun, sim_calibration, sim_results_by_method

NOT_MODELLED = (
    'What the simulator does not model: features learned end to end (the RoI features come '
    "from a fixed generative model; only the box head trains: its classifier, and from roi_v1c "
    'on its two shared fully connected layers), boxes (a detection has '
    "its proposal's box; regression is not simulated), masks (AP is box AP of the simulated "
    'detections), the RPN (proposals are drawn by stated rules).')


def _precondition_rows(runs: Sequence[SimRun]):
    bce = [r.result() for r in runs if r.method == 'bce']
    bce = [b for b in bce if b is not None]
    groups = [b['gradients']['unweighted'] for b in bce if b.get('gradients')]
    shares, pos_neg = list(map(group_shares, groups)), list(map(group_ratios, groups))
    scores = [b['background_scores'] for b in bce]
    aps = [(b['metrics'].get('bbox_APr', -1), b['metrics'].get('bbox_APf', -1)) for b in bce]
    return precondition_criteria(shares, pos_neg, scores, aps, ap_kind='box')


def sim_orderings():
    """The published orderings, Table 3's (LVIS v0.5) against the simulator's v0.5 DropLoss
    run: BEQL and the fixed ratio run on v0.5's counts, as the paper's Table 3 does."""
    return tuple(dataclasses.replace(o, low=_v05(o.low), high=_v05(o.high))
                 if 'v0.5' in o.source else o for o in PUBLISHED_ORDERINGS)


def _v05(method: str) -> str:
    return 'droploss_v05' if method == 'droploss' else method


def freeze_commit(design: Optional[str] = FROZEN_SIM_DESIGN) -> str:
    """The commit that set ``FROZEN_SIM_DESIGN`` to ``design`` (the first to contain that
    line), '' outside a git checkout or before the freeze is committed."""
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    line = f"FROZEN_SIM_DESIGN = '{design}'"
    try:
        out = subprocess.run(['git', 'log', '--reverse', '--format=%h', '-S', line, '--',
                              'mmdet_droploss/benchmark/sim_designs.py'], cwd=root, text=True,
                             capture_output=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return ''
    return out[0] if out else ''


def _held_out_provenance(runs: Sequence[SimRun]) -> str:
    """Which code the held-out runs ran, against the commit that froze the design."""
    commits = sorted({str((r.result() or {}).get('commit') or 'unrecorded') for r in runs
                      if r.method in SIM_HELD_OUT_METHODS and r.result() is not None})
    return (f'The design was frozen at commit `{freeze_commit() or "uncommitted"}`; the '
            f'held-out runs ran at {", ".join(f"`{c}`" for c in commits)}.')


def sim_validation_status(design: SimulatorDesign) -> str:
    if FROZEN_SIM_DESIGN is None:
        return ('**Not validated.** No simulator design has passed calibration yet (every '
                'design tried is in the design log of `docs/benchmark.md`): these figures say '
                'how methods rank in the simulator, not how they would rank on LVIS, and no '
                'held-out method has run.')
    if design.name != FROZEN_SIM_DESIGN:
        return (f'**Not the frozen design** (`{FROZEN_SIM_DESIGN}` is): these figures are '
                'not validated.')
    return (f'**Validated** design `{FROZEN_SIM_DESIGN}`: it passed calibration and was '
            'frozen before the held-out methods first ran.')


def write_sim_report(out_dir: str, runs: Sequence[SimRun], design: SimulatorDesign,
                     statistics: Optional[List] = None, command: str = '',
                     commit: str = '') -> str:
    """Write ``report.md`` and ``results.csv`` to ``out_dir``; return the Markdown."""
    results = sim_results_by_method(runs)
    checks, outcome, seeds = sim_calibration(runs)
    finished = [(r, r.result()) for r in runs]
    finished = [(r, res) for r, res in finished if res is not None]
    seconds = [res['seconds'] for _, res in finished]
    lines = [f'# Loss benchmark on the LVIS-scale RoI simulator: design `{design.name}`', '',
             *([f'Command: `{command}`' + (f' at commit `{commit}`' if commit else ''), '']
               if command else []),
             sim_validation_status(design), '',
             f'Design: {design.summary}.', '', NOT_MODELLED, '',
             f'Machine: {machine_description()}. {len(finished)} of {len(runs)} runs finished' +
             (f', {min(seconds) / 60:.1f}-{max(seconds) / 60:.1f} min each (training and '
              f'evaluation).' if seconds else '.'), '']
    if statistics:
        lines += ['## The generator against LVIS (seed 0)', '', statistics_table(statistics), '']
    lines += ['## Preconditions (BCE runs; criteria of `preconditions.py`)', '',
              _preconditions_table(_precondition_rows(runs)), '',
              '## Calibration (criteria of `calibration.py`, with GOL\'s BCE < Gumbel)', '',
              f'Verdict: **{outcome}** (seeds per method: {seeds}; a pass needs 3, one seed '
              'can reject).', '', calibration_table(checks), '']
    held_out = [m for m in SIM_HELD_OUT_METHODS if m in results]
    if held_out:
        labels = {name: m.label for name, m in METHODS.items()}
        lines += ['## Held out: the simulator against the published LVIS results', '',
                  _held_out_provenance(runs), '', predictions_table(predict(results, sim_orderings()), labels), '']
    order = [m for m in list(SIM_CALIBRATION_METHODS) + list(METHODS) if m in results]
    table = [results[m] for m in dict.fromkeys(order)]
    lines += ['## Results (box AP of the simulated detections; mean ± std over seeds, in %)',
              '', markdown_table(table, columns=SIM_COLUMNS), '',
              '## Runs', '', '| method | seed | AP | APr | APc | APf | train s | eval s |',
              '|---|---|---|---|---|---|---|---|']
    for r, res in finished:
        m = res['metrics']
        lines.append(f'| {res["label"]} | {r.seed} | ' + ' | '.join(
            f'{m.get("bbox_" + k, -1) * 100:.1f}' for k in ('AP', 'APr', 'APc', 'APf')) +
            f' | {res["training"]["seconds"]:.0f} | {res["eval_seconds"]:.0f} |')
    text = '\n'.join(lines) + '\n'
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'report.md'), 'w') as f:
        f.write(text)
    with open(osp.join(out_dir, 'results.csv'), 'w') as f:
        f.write(csv_table(table, SIM_COLUMNS))
    return text
