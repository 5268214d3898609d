"""The benchmark's report: the paper-style table over seeds, the preconditions, the plots."""
from __future__ import annotations

import os
import os.path as osp
import platform
from typing import Dict, List, Optional, Sequence

from ..analysis.results import ConfigResult, collect, csv_table, markdown_table, plot_pareto
from .calibration import (CALIBRATION_METHODS, SEEDS_TO_PASS, calibrate, calibration_table,
                          verdict)
from .designs import FROZEN_DESIGN, BenchmarkDesign
from .plan import HELD_OUT_METHODS, METHODS, BenchmarkRun
from .predictions import predict, predictions_table
from .preconditions import Criterion


def machine_description() -> str:
    import torch
    cpus = os.cpu_count()
    return (f'{platform.machine()} Linux, {cpus} CPU core(s), torch {torch.__version__}, '
            f'Python {platform.python_version()}')


def _preconditions_table(criteria: Sequence[Criterion]) -> str:
    lines = ['| criterion | measured | required | met | detail |', '|---|---|---|---|---|']
    for c in criteria:
        value = 'n/a' if c.value is None else f'{c.value:.3f}'
        lines.append(f'| {c.name} | {value} | >= {c.threshold:g} | '
                     f'{"yes" if c.passed else "**no**"} | {c.detail} |')
    return '\n'.join(lines)


def results_by_method(runs: Sequence[BenchmarkRun]) -> Dict[str, ConfigResult]:
    """Method name -> the result over its finished runs (seeds), labelled for the report."""
    by_method: Dict[str, ConfigResult] = {}
    for method in dict.fromkeys(r.method for r in runs):
        finished = [r for r in runs if r.method == method and r.record() is not None]
        if finished:
            result = collect([r.work_dir for r in finished])[0]
            result.config = finished[0].label
            by_method[method] = result
    return by_method


def calibration_section(runs: Sequence[BenchmarkRun]) -> str:
    """The calibration criteria (``calibration.py``) on the finished calibration runs, with
    the verdict."""
    results = results_by_method([r for r in runs if r.method in CALIBRATION_METHODS])
    checks = calibrate(results)
    seeds = min((len(r.runs) for r in results.values()), default=0)
    return (f'Verdict: **{verdict(checks, seeds)}** (seeds per method: {seeds}; a pass needs '
            f'{SEEDS_TO_PASS}, one seed can reject).\n\n' + calibration_table(checks))


def validation_status() -> str:
    """Whether any design has passed calibration: until one has, no figure of the benchmark
    says how a method would rank on LVIS."""
    if FROZEN_DESIGN is None:
        return ('**Not validated.** No design has passed calibration (every design tried, with '
                'its figures, is in the design log of `docs/benchmark.md`): these figures say '
                'how methods rank on this synthetic set, not how they would rank on LVIS, and '
                'the held-out methods have not been run on a frozen design.')
    return (f'**Validated** on design `{FROZEN_DESIGN}`, which passed calibration and was '
            'frozen before the held-out methods first ran.')


def held_out_section(runs: Sequence[BenchmarkRun], design: Optional[BenchmarkDesign]) -> str:
    """The published orderings of the held-out methods (``predictions.py``) as the benchmark
    ranks them; empty if no held-out method has finished a run."""
    if not any(r.method in HELD_OUT_METHODS and r.record() is not None for r in runs):
        return ''
    frozen = design is not None and design.name == FROZEN_DESIGN
    caveat = '' if frozen else (' **Not the frozen design**: these methods were run with '
                                '--allow-held-out, on a design that has not passed calibration.')
    table = predictions_table(predict(results_by_method(runs)),
                              {name: label for name, (_, label) in METHODS.items()})
    return ('## Held out: the benchmark against the published LVIS results\n\n'
            'The held-out methods ran after the design was frozen; each ordering is judged as '
            'the calibration\'s are (the gap must beat the larger seed standard deviation).'
            f'{caveat}\n\n{table}\n')


def write_report(out_dir: str, runs: Sequence[BenchmarkRun], criteria: Sequence[Criterion],
                 seconds: Dict[BenchmarkRun, float], total_seconds: float, command: str,
                 figures: Optional[Dict[str, str]] = None,
                 design: Optional[BenchmarkDesign] = None, commit: str = '') -> str:
    """Write ``report.md``, ``results.csv`` and ``pareto.png`` to ``out_dir``; return the
    Markdown. Only finished runs count; the table rows follow the order of ``runs``' methods
    and are labelled with the methods' report labels."""
    finished = [r for r in runs if r.record() is not None]
    results = collect([r.work_dir for r in finished])
    label_of = {osp.splitext(osp.basename(r.config))[0]: r.label for r in finished}
    order = list(dict.fromkeys(osp.splitext(osp.basename(r.config))[0] for r in runs))
    results.sort(key=lambda res: order.index(res.config) if res.config in order else len(order))
    for res in results:
        res.config = label_of.get(res.config, res.config)
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'results.csv'), 'w') as f:
        f.write(csv_table(results))
    plot_pareto(results, osp.join(out_dir, 'pareto.png'))
    run_seconds = [seconds[r] for r in finished if r in seconds]
    lines: List[str] = [
        '# Loss benchmark on the LVIS-regime synthetic set', '',
        f'Command: `{command}`' + (f' at commit `{commit}`' if commit else ''), '',
        *([f'Design: `{design.name}`{" (frozen)" if design.name == FROZEN_DESIGN else ""}: '
           f'{design.summary}; RFS threshold {design.rfs_threshold:.4g}.', '']
          if design else []),
        validation_status(), '',
        f'Machine: {machine_description()}. This invocation: {total_seconds / 60:.1f} min. '
        f'{len(finished)} of {len(runs)} runs finished' +
        (f', {sum(run_seconds) / 60:.1f} min of runs in all, '
         f'{min(run_seconds) / 60:.1f}-{max(run_seconds) / 60:.1f} min each (training and '
         'evaluation).' if run_seconds else '.'), '',
        '## Preconditions (BCE runs; criteria fixed before any comparison)', '',
        _preconditions_table(criteria), '',
        '## Calibration (methods whose LVIS ranking is published; criteria fixed before the '
        'search)', '', calibration_section(runs), '',
        held_out_section(runs, design),
        '## Results (mask AP unless marked; mean ± std over seeds, in %)', '',
        markdown_table(results), '',
        '![Pareto](pareto.png)', '']
    for title, path in (figures or {}).items():
        lines += [f'### {title}', '', f'![{title}]({osp.relpath(path, out_dir)})', '']
    text = '\n'.join(lines)
    with open(osp.join(out_dir, 'report.md'), 'w') as f:
        f.write(text)
    return text
