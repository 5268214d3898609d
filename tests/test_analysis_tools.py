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
    # trained to 6, resumed to 10 (interval 50): each part ends with a report, which reaches the
    # visualizer's local backend; the saved file is the resumed part's
    assert (stats['start_iter'], stats['iter']) == (6, 10)
    logged = {r['step']: r for path in demo_run.work_dir.glob('*/vis_data/scalars.json')
              for r in map(json.loads, path.read_text().splitlines()) if 'grad_bg_share_r' in r}
    assert sorted(logged) == [6, 10]
    for g in ('r', 'c', 'f'):
        for kind, suffix in (('weighted', ''), ('unweighted', '_bce')):
            assert logged[10][f'grad_bg_share_{g}{suffix}'] == pytest.approx(
                head['summary'][kind][g]['background_share'])
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
    # (2, 3) is beaten by (2, 4), (0, 5) by (1, 5); the two equal (3, 1) beat each other not
    points = [(1, 5), (2, 4), (2, 3), (3, 1), (0, 5), (3, 1)]
    assert pareto_front(points) == [0, 1, 3, 5]


def write_run(work_dir, config, stamps):
    """A fake work dir: the dumped config and, per timestamp, ``('test'|'val', metrics)``."""
    work_dir.mkdir(parents=True)
    (work_dir / f'{config}.py').write_text('# dumped config\n')
    for stamp, (kind, metrics) in stamps.items():
        if kind == 'test':  # tools/test.py: <stamp>/<stamp>.json
            path = work_dir / stamp / f'{stamp}.json'
        else:  # validation during training: <stamp>/vis_data/scalars.json, losses around it
            path = work_dir / stamp / 'vis_data' / 'scalars.json'
        path.parent.mkdir(parents=True)
        rows = [dict(loss=1.0, step=10), dict(metrics, step=20), dict(loss=0.5, step=30)]
        path.write_text(''.join(json.dumps(r) + '\n' for r in rows))


def lvis_metrics(ap, apr, apc, apf, ap_bbox, ar):
    return {'lvis/segm_AP': ap, 'lvis/segm_APr': apr, 'lvis/segm_APc': apc,
            'lvis/segm_APf': apf, 'lvis/bbox_AP': ap_bbox, 'lvis/segm_AR': ar,
            'lvis/bbox_APr': 0.9}


def test_collect_groups_seeds_and_reads_the_newest_record(tmp_path):
    from mmdet_droploss.analysis.results import collect, csv_table, markdown_table
    seeds = [lvis_metrics(0.25, 0.13, 0.28, 0.27, 0.25, 0.35),
             lvis_metrics(0.26, 0.12, 0.27, 0.28, 0.24, 0.36),
             lvis_metrics(0.24, 0.15, 0.29, 0.26, 0.26, 0.34)]
    old = lvis_metrics(0.01, 0.01, 0.01, 0.01, 0.01, 0.01)
    dirs = []
    for i, metrics in enumerate(seeds):  # seed 0: validated while training, later tested
        stamps = {'20260101_000000': ('val', old if i == 0 else metrics)}
        if i == 0:
            stamps['20260102_000000'] = ('test', metrics)
        write_run(tmp_path / f'droploss_s{i}', 'droploss_cfg', stamps)
        dirs.append(tmp_path / f'droploss_s{i}')
    write_run(tmp_path / 'bce', 'bce_cfg',
              {'20260101_000000': ('test', lvis_metrics(0.21, -1.0, 0.21, 0.29, 0.21, 0.3))})
    results = {r.config: r for r in collect([str(d) for d in dirs] + [str(tmp_path / 'bce')])}
    assert sorted(results) == ['bce_cfg', 'droploss_cfg']
    drop = results['droploss_cfg']
    for column, key in (('AP', 'lvis/segm_AP'), ('APr', 'lvis/segm_APr'),
                        ('AP_bbox', 'lvis/bbox_AP'), ('AR', 'lvis/segm_AR')):
        values = [m[key] for m in seeds]
        mean = sum(values) / 3
        assert drop.mean[column] == pytest.approx(mean)
        assert drop.std[column] == pytest.approx(
            math.sqrt(sum((v - mean) ** 2 for v in values) / 2))
    assert 'APr' not in results['bce_cfg'].mean  # -1: no rare category evaluated
    table = markdown_table(list(results.values()))
    assert '| bce_cfg | 1 | 21.0 | - | 21.0 | 29.0 | 21.0 | 30.0 |' in table
    assert (f"| droploss_cfg | 3 | 25.0 ± {100 * drop.std['AP']:.1f} | "
            f"13.3 ± {100 * drop.std['APr']:.1f} |") in table
    csv_rows = csv_table(list(results.values())).splitlines()
    assert csv_rows[0].startswith('config,runs,AP_mean,AP_std,APr_mean,APr_std')
    assert csv_rows[1].startswith('droploss_cfg,3,0.250000,')


def test_collect_names_the_work_dir_without_metrics(tmp_path):
    from mmdet_droploss.analysis.results import collect
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='empty: no LVIS metrics'):
        collect([str(tmp_path / 'empty')])


def test_background_score_statistics_on_a_small_case():
    import numpy as np
    import torch
    from mmdet_droploss.analysis.background_scores import BIN_EDGES, BackgroundScores
    group_index = np.array([0, 0, 1, 2])
    stats = BackgroundScores(group_index=group_index)
    rng = np.random.default_rng(0)
    images = [(rng.random((7, 4)) ** 3, rng.random(7)) for _ in range(3)]
    for probs, ious in images:
        stats.add(torch.from_numpy(probs), torch.from_numpy(ious))
    background = np.concatenate([p[i < 0.5] for p, i in images])
    summary = stats.summary()
    assert summary['num_background_proposals'] == len(background)
    assert summary['class_mean_score'] == pytest.approx(background.mean(axis=0).tolist())
    for g, group in enumerate('rcf'):
        values = background[:, group_index == g].ravel()
        assert summary['groups'][group]['mean_score'] == pytest.approx(values.mean())
        assert summary['groups'][group]['histogram'] == np.histogram(values, BIN_EDGES)[0].tolist()


def test_ground_truth_boxes_follow_the_resized_image(demo_run):
    """The analysis pipeline loads the boxes before Resize: they scale with the image."""
    from mmengine.config import Config
    from mmengine.dataset import Compose

    import mmdet_droploss  # noqa: F401
    from mmdet.utils import register_all_modules
    from mmdet_droploss.analysis.background_scores import pipeline_with_gt_boxes
    register_all_modules()
    cfg = Config.fromfile(demo_run.config)
    pipeline = [dict(t, scale=(512, 512)) if t['type'] == 'Resize' else t
                for t in cfg.test_dataloader.dataset.pipeline]
    ann = json.loads((demo_run.data_root / 'annotations/lvis_demo_val.json').read_text())
    image = next(i for i in ann['images'] if any(a['image_id'] == i['id']
                                                   for a in ann['annotations']))
    boxes = [a['bbox'] for a in ann['annotations'] if a['image_id'] == image['id']]
    info = dict(img_path=str(demo_run.data_root / 'val' / image['file_name']),
                img_id=image['id'],
                instances=[dict(bbox=[x, y, x + w, y + h], bbox_label=0, ignore_flag=0)
                           for x, y, w, h in boxes])
    sample = Compose(pipeline_with_gt_boxes(pipeline))(dict(info))['data_samples']
    scale = 512 / max(image['width'], image['height'])
    expected = [v * scale for b in info['instances'] for v in b['bbox']]
    assert scale > 1.5
    assert sample.gt_instances.bboxes.tensor.flatten().tolist() == pytest.approx(expected,
                                                                                 rel=1e-4)
    with pytest.raises(ValueError, match='LoadImageFromFile'):
        pipeline_with_gt_boxes([dict(type='Resize', scale=(8, 8))])
