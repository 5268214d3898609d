"""The analysis tools on the demo run's work dir (``demo_run`` fixture), checked against
numbers recomputed here."""
import json
import math
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, demo_env


def run(args, data_root):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=REPO_ROOT, text=True,
                          env=demo_env(data_root), timeout=600,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


def test_gradient_stats_of_the_demo_run_and_their_plot(demo_run, tmp_path):
    stats = json.loads((demo_run.work_dir / 'gradient_stats.json').read_text())
    head = stats['heads']['roi_head.bbox_head']
    per_class, group_index = head['per_class'], stats['group_index']
    # DropLoss (released code): positives are never reweighted, frequent classes keep every
    # background weight, tail classes lose part of it and get no foreground discouragement.
    assert per_class['weighted']['positive'] == pytest.approx(per_class['unweighted']['positive'])
    for j, g in enumerate(group_index):
        w_bg = per_class['weighted']['negative_background'][j]
        u_bg = per_class['unweighted']['negative_background'][j]
        if g == 2:
            assert w_bg == pytest.approx(u_bg)
            assert per_class['weighted']['negative_foreground'][j] == pytest.approx(
                per_class['unweighted']['negative_foreground'][j])
        else:
            assert w_bg <= u_bg + 1e-12
            assert per_class['weighted']['negative_foreground'][j] == 0
    out = run(['tools/plot_gradient_stats.py', demo_run.work_dir, '--out',
               tmp_path / 'grad.png'], demo_run.data_root)
    assert (tmp_path / 'grad.png').stat().st_size > 10_000
    for g, name in enumerate(('rare', 'common', 'frequent')):
        bg = sum(v for v, k in zip(per_class['unweighted']['negative_background'], group_index)
                 if k == g)
        fg = sum(v for v, k in zip(per_class['unweighted']['negative_foreground'], group_index)
                 if k == g)
        assert f'| {name} |' in out
        bce_share = float(out.split(f'| {name} |')[1].split('|')[1])
        assert bce_share == pytest.approx(bg / (bg + fg), abs=6e-4)


def test_background_scores_of_the_demo_model(demo_run, tmp_path):
    out = run(['tools/analyze_background_scores.py', demo_run.config, demo_run.checkpoint,
               '--out', tmp_path, '--max-images', 4], demo_run.data_root)
    summary = json.loads((tmp_path / 'background_scores.json').read_text())
    assert summary['images'] == 4 and summary['num_background_proposals'] > 0
    assert (tmp_path / 'background_scores.png').stat().st_size > 10_000
    class_mean = summary['class_mean_score']
    info = json.loads((demo_run.data_root / 'annotations/lvis_demo_train.json').read_text())
    groups = [c['frequency'] for c in info['categories']]
    for group, stats in summary['groups'].items():
        members = [m for m, g in zip(class_mean, groups) if g == group]
        assert stats['num_classes'] == len(members)
        assert stats['pairs'] == len(members) * summary['num_background_proposals']
        assert sum(stats['histogram']) == stats['pairs']
        # every class saw the same proposals: the group mean is the mean of the class means
        assert stats['mean_score'] == pytest.approx(sum(members) / len(members), rel=1e-6)
        assert 0 < stats['mean_score'] < 1
        assert f"{stats['mean_score']:.3e}" in out


def test_results_table_and_pareto_plot_over_seeds(demo_run, tmp_path):
    # a second "seed" of the same config: the demo work dir with known metric changes
    seed2 = tmp_path / 'seed2'
    shutil.copytree(demo_run.work_dir, seed2,
                    ignore=shutil.ignore_patterns('*.pth', 'vis_data'))
    first = json.loads([p for p in demo_run.work_dir.glob('*/*.json')
                        if p.stem == p.parent.name][-1].read_text().splitlines()[-1])
    for stamp in seed2.glob('*/'):
        path = stamp / f'{stamp.name}.json'
        if path.is_file():
            rows = [json.loads(line) for line in path.read_text().splitlines() if line]
            for row in rows:
                for key in row:
                    if key.startswith('lvis/') and row[key] >= 0:
                        row[key] = min(1.0, row[key] + 0.1)
            path.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')
    out_dir = tmp_path / 'analysis'
    out = run(['tools/analyze_results.py', demo_run.work_dir, seed2, '--out', out_dir],
              demo_run.data_root)
    assert (out_dir / 'pareto.png').stat().st_size > 10_000
    csv_rows = (out_dir / 'results.csv').read_text().splitlines()
    header, row = csv_rows[0].split(','), csv_rows[1].split(',')
    values = dict(zip(header, row))
    assert values['config'] == 'mask_rcnn_tiny_droploss_demo' and values['runs'] == '2'
    for column, key in (('AP', 'lvis/segm_AP'), ('APr', 'lvis/segm_APr'),
                        ('AP_bbox', 'lvis/bbox_AP'), ('AR', 'lvis/segm_AR')):
        a, b = first[key], min(1.0, first[key] + 0.1)
        assert float(values[f'{column}_mean']) == pytest.approx((a + b) / 2, abs=1e-6)
        assert float(values[f'{column}_std']) == pytest.approx(abs(a - b) / math.sqrt(2),
                                                               abs=1e-6)
    assert '| mask_rcnn_tiny_droploss_demo | 2 |' in out and '±' in out


def test_pareto_front_keeps_only_undominated_points():
    from mmdet_droploss.analysis.results import pareto_front
    points = [(1, 5), (2, 4), (2, 3), (3, 1), (0, 5), (3, 1)]
    assert pareto_front(points) == [0, 1, 3, 5] or pareto_front(points) == [0, 1, 3]
