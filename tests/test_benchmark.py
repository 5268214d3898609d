"""The loss benchmark: run plan, preconditions and report on hand-made work dirs, and the
``--quick`` pipeline end to end (what CI runs of it)."""
import json
import math
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, free_port
from mmdet_droploss.benchmark import METHODS, check_preconditions, plan_runs, write_report
from mmdet_droploss.benchmark.preconditions import (AP_GAP_MIN, POS_NEG_RATIO_MIN, RARE_SHARE_MIN,
                                                    SCORE_RATIO_MIN, SHARE_GAP_MIN)


def fake_run(run, metrics, shares=None, scores=None, finished=True, positive=None):
    """A work dir as a finished benchmark run leaves it: ``shares`` the background shares of
    the discouraging gradient per group, whose total is 1 (``positive``: the positive
    gradient per group, default 0.1)."""
    from pathlib import Path
    work = Path(run.work_dir)
    stamp = work / '20260101_000000' / 'vis_data'
    stamp.mkdir(parents=True)
    (work / Path(run.config).name).write_text('# dumped config\n')
    record = {'lvis/' + k: v for k, v in metrics.items()}
    (stamp / 'scalars.json').write_text(json.dumps({'step': 10, **record}) + '\n')
    if shares is not None:
        positive = positive or dict(r=0.1, c=0.1, f=0.1)
        summary = {'unweighted': {g: {'background_share': s, 'negative_background': s,
                                      'negative_foreground': 1 - s, 'positive': positive[g]}
                                  for g, s in shares.items()},
                   'weighted': {g: {'background_share': 0.0} for g in 'rcf'}}
        (work / 'gradient_stats.json').write_text(json.dumps(
            {'heads': {'roi_head.bbox_head': {'summary': summary}}}))
    if scores is not None:
        (work / 'background_scores.json').write_text(json.dumps(
            {'groups': {g: {'mean_score': s} for g, s in scores.items()}}))
    if finished:
        run.mark_done(100.0 + run.seed)


METRICS = dict(segm_AP=0.30, segm_APr=0.10, segm_APc=0.25, segm_APf=0.40, bbox_AP=0.32,
               segm_AR=0.45)


def test_plan_is_seed_major_and_refuses_unknown_methods(tmp_path):
    runs = plan_runs(str(tmp_path), ['bce', 'droploss'], [0, 1])
    assert [(r.method, r.seed) for r in runs] == [('bce', 0), ('droploss', 0), ('bce', 1),
                                                  ('droploss', 1)]
    assert runs[3].work_dir == str(tmp_path / 'runs' / 'droploss' / 'seed1')
    assert all((REPO_ROOT / r.config).is_file() for r in plan_runs(str(tmp_path), METHODS, [0]))
    with pytest.raises(ValueError, match='unknown method'):
        plan_runs(str(tmp_path), ['focal'], [0])


def test_preconditions_are_means_over_the_bce_runs(tmp_path):
    runs = plan_runs(str(tmp_path), ['bce'], [0, 1])
    shares = [dict(r=0.70, c=0.66, f=0.50), dict(r=0.60, c=0.64, f=0.46)]
    scores = [dict(r=1e-4, c=5e-4, f=2e-3), dict(r=3e-4, c=6e-4, f=2e-3)]
    aps = [dict(METRICS, segm_APr=0.10, segm_APf=0.40), dict(METRICS, segm_APr=-1, segm_APf=0.30)]
    positive = [dict(r=0.05, c=0.2, f=0.5), dict(r=0.15, c=0.2, f=0.3)]
    for run, s, sc, ap, pos in zip(runs, shares, scores, aps, positive):
        fake_run(run, ap, s, sc, positive=pos)
    criteria = check_preconditions([r.work_dir for r in runs])
    rare, gap, ratio, ap_gap, pos_neg = criteria
    assert rare.value == pytest.approx(0.65) and rare.passed and rare.threshold == RARE_SHARE_MIN
    assert gap.value == pytest.approx(0.65 - 0.48) and gap.passed
    assert gap.threshold == SHARE_GAP_MIN
    assert ratio.value == pytest.approx(2e-3 / 2e-4) and ratio.passed
    assert ratio.threshold == SCORE_RATIO_MIN
    # APr -1 (no rare category evaluated) counts as missing, not as a value
    assert ap_gap.value == pytest.approx(0.35 - 0.10) and ap_gap.threshold == AP_GAP_MIN
    # EQLv2's statistic: positive over all negative gradient (here 1 per run), mean per group
    assert pos_neg.value == pytest.approx(0.4 / 0.1) and pos_neg.passed
    assert pos_neg.threshold == POS_NEG_RATIO_MIN and 'rare 0.100' in pos_neg.detail


def test_preconditions_fail_and_report_missing_measurements(tmp_path):
    runs = plan_runs(str(tmp_path), ['bce'], [0])
    fake_run(runs[0], dict(METRICS, segm_APr=0.38), dict(r=0.55, c=0.6, f=0.45))
    rare, gap, ratio, ap_gap, pos_neg = check_preconditions([runs[0].work_dir])
    assert rare.passed and not gap.passed and gap.value == pytest.approx(0.10)
    assert ratio.value is None and not ratio.passed and 'n/a' in ratio.detail
    assert not ap_gap.passed and ap_gap.value == pytest.approx(0.02)
    assert pos_neg.value == pytest.approx(1.0) and not pos_neg.passed  # equal ratios


def test_report_table_rows_follow_methods_with_mean_and_std(tmp_path):
    runs = plan_runs(str(tmp_path / 'bench'), ['bce', 'droploss'], [0, 1])
    values = {('bce', 0): 0.10, ('bce', 1): 0.14, ('droploss', 0): 0.20, ('droploss', 1): 0.30}
    for run in runs:
        fake_run(run, dict(METRICS, segm_APr=values[run.method, run.seed]),
                 finished=not (run.method == 'droploss' and run.seed == 1))
    assert runs[3].record() is None  # not marked done: not counted
    criteria = check_preconditions([r.work_dir for r in runs if r.method == 'bce'])
    text = write_report(str(tmp_path / 'bench'), runs, criteria,
                        {r: 60.0 * (k + 1) for k, r in enumerate(runs)}, 1234.0, 'cmd')
    table = text.split('## Results')[1]
    rows = [line for line in table.splitlines() if line.startswith('| BCE |') or
            line.startswith('| DropLoss |')]
    assert rows[0].startswith('| BCE | 2 |') and rows[1].startswith('| DropLoss | 1 |')
    apr_bce = rows[0].split('|')[4].strip()
    std = math.sqrt(((0.10 - 0.12) ** 2 + (0.14 - 0.12) ** 2) / 1) * 100
    assert apr_bce == f'{12.0:.1f} ± {std:.1f}'
    assert rows[1].split('|')[4].strip() == '20.0'
    assert 'AP_fixed' not in text  # no run has AP-Fixed: its optional columns stay out
    assert '3 of 4 runs finished, 6.0 min of runs in all, 1.0-3.0 min each' in text
    assert 'This invocation: 20.6 min' in text
    # whether a design has passed calibration heads the report
    from mmdet_droploss.benchmark import report
    assert report.validation_status() in text
    assert (tmp_path / 'bench' / 'pareto.png').stat().st_size > 0
    csv = (tmp_path / 'bench' / 'results.csv').read_text().splitlines()
    assert csv[1].startswith('BCE,2,') and csv[2].startswith('DropLoss,1,')


def test_validation_status_says_whether_a_design_passed(monkeypatch):
    from mmdet_droploss.benchmark import report
    monkeypatch.setattr(report, 'FROZEN_DESIGN', None)
    assert report.validation_status().startswith('**Not validated.** No design has passed')
    monkeypatch.setattr(report, 'FROZEN_DESIGN', 'vocab150')
    assert report.validation_status().startswith('**Validated** on design `vocab150`')


QUICK_METHODS = ('bce', 'bce_rfs', 'eqlv2', 'droploss')  # tools/benchmark.py's


def test_quick_benchmark_pipeline(tmp_path):
    """``tools/benchmark.py --quick`` trains every method (1 seed, 20 iterations, 2 gloo
    processes), measures the preconditions and writes the report; a second call skips the
    finished runs."""
    out, data = tmp_path / 'out', tmp_path / 'data'
    cmd = [sys.executable, 'tools/benchmark.py', '--quick', '--out', str(out), '--data', str(data)]
    env = {**__import__('os').environ, 'PORT': str(free_port()), 'PYTHON': sys.executable}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, text=True, timeout=1800,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, proc.stdout[-5000:]
    report = (out / 'report.md').read_text()
    for method in QUICK_METHODS:
        assert f'| {METHODS[method][1]} | 1 |' in report
    # the calibration section is there, and one seed cannot pass a design
    assert '## Calibration' in report and 'Verdict: **' in report
    assert 'Verdict: **pass**' not in report
    # every final model was tested again for AP-Fixed, whose columns join the table
    assert '| AR | AP_fixed | APr_fixed |' in report
    assert 'AP-Fixed (K = 20 per category)' in proc.stdout  # 10,000 x 40 / 19,809 images
    assert 'Benchmark finished in' in proc.stdout and 'ETA' in proc.stdout
    # every precondition was measured on the BCE run (pass or not: 20 iterations mean nothing)
    table = report.split('## Preconditions')[1].split('## Calibration')[0]
    assert table.count('| n/a |') == 0 and len([l for l in table.splitlines()
                                                if l.startswith('| ') and 'criterion' not in l]) == 5
    for name in ('pareto.png', 'gradient_stats_bce.png', 'gradient_stats_droploss.png',
                 'results.csv', 'runs/bce/seed0/background_scores.png'):
        assert (out / name).stat().st_size > 0, name
    again = subprocess.run(cmd, cwd=REPO_ROOT, env=env, text=True, timeout=600,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert again.returncode == 0, again.stdout[-3000:]
    assert f'{len(QUICK_METHODS)} already finished, skipped' in again.stdout
    assert 'Iter(train)' not in again.stdout
