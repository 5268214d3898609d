"""The demo config trained with tools/dist_train.sh on 2 gloo processes, resumed, and
evaluated with tools/dist_test.sh (the ``demo_run`` fixture in conftest.py does the runs)."""
import json
import re
import sys

import torch

LVIS_KEYS = [f'lvis/{t}_{m}' for t in ('bbox', 'segm')
             for m in ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')]


def _metrics_json(work_dir):
    """The metrics mmengine wrote for the last test run (``<timestamp>/<timestamp>.json``)."""
    runs = sorted(p for p in work_dir.iterdir() if p.is_dir() and re.fullmatch(r'\d{8}_\d{6}',
                                                                                p.name))
    for run in reversed(runs):
        candidate = run / f'{run.name}.json'
        if candidate.is_file():
            lines = [json.loads(line) for line in candidate.read_text().splitlines() if line]
            tests = [line for line in lines if 'lvis/bbox_AP' in line]
            if tests:
                return tests[-1]
    raise AssertionError(f'no metrics json under {work_dir}')


def test_training_ran_on_two_gloo_processes(demo_run):
    first, second = demo_run.train_logs
    assert 'Distributed launcher: pytorch' in first
    assert 'GPU number: 2' in first  # mmengine's name for the world size
    # the CPU fallback chose gloo in place of the config's nccl, in both processes
    assert first.count("using the 'gloo' process-group backend instead of 'nccl'") == 2
    assert re.search(r'Iter\(train\) \[ ?6/6\]', first)
    assert (demo_run.work_dir / 'iter_6.pth').is_file()


def test_resume_continues_from_the_checkpoint(demo_run):
    second = demo_run.train_logs[1]
    assert 'resumed' in second.lower() and 'iter_6.pth' in second
    # the resumed run starts counting at 7, not 1
    assert not re.search(r'Iter\(train\) \[ ?2/10\]', second)
    assert re.search(r'Iter\(train\) \[10/10\]', second)
    ckpt = torch.load(demo_run.checkpoint, map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 10
    first_ckpt = torch.load(demo_run.work_dir / 'iter_6.pth', map_location='cpu',
                            weights_only=True)
    # training went on: the classifier changed between the checkpoints
    key = 'roi_head.bbox_head.fc_cls.weight'
    assert ckpt['state_dict'][key].shape == (20, 256)
    assert not torch.equal(ckpt['state_dict'][key], first_ckpt['state_dict'][key])


def test_validation_at_the_end_of_training_reports_lvis_metrics(demo_run):
    second = demo_run.train_logs[1]
    for key in LVIS_KEYS:
        assert f'{key}:' in second


def test_dist_test_reports_every_lvis_metric_in_range(demo_run):
    metrics = _metrics_json(demo_run.work_dir)
    for key in LVIS_KEYS:
        value = metrics[key]
        # -1 marks an empty group (no large objects in 128 px images)
        assert value == -1 or 0.0 <= value <= 1.0, (key, value)
    assert metrics['lvis/bbox_APl'] == -1 and metrics['lvis/segm_APl'] == -1
    assert 'Average Precision' in demo_run.test_log and 'catIds=  r' in demo_run.test_log
    assert 'GPU number: 2' in demo_run.test_log


def test_dist_test_downloaded_and_verified_the_checkpoint_by_zoo_name(demo_run):
    import hashlib
    cached = list(demo_run.zoo_cache.glob('*.pth'))
    assert [p.name for p in cached] == [demo_run.checkpoint.name]
    assert (hashlib.sha256(cached[0].read_bytes()).digest() ==
            hashlib.sha256(demo_run.checkpoint.read_bytes()).digest())
    assert f'Load checkpoint from {cached[0]}' in demo_run.test_log


def test_test_py_dumps_predictions_and_draws_them(demo_run, tmp_path):
    import pickle

    from conftest import demo_env, run_tool
    out = tmp_path / 'preds.pkl'
    run_tool([sys.executable, 'tools/test.py', demo_run.config, demo_run.checkpoint,
              '--work-dir', tmp_path, '--out', out, '--show-dir', 'drawn', '--cfg-options',
              'test_dataloader.dataset.indices=3'], demo_env(demo_run.data_root))
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 3
    for pred in predictions:
        instances = pred['pred_instances']
        assert instances['bboxes'].shape[1] == 4
        assert len(instances['scores']) <= 300 and (instances['labels'] < 20).all()
    drawn = list(tmp_path.glob('*/drawn/*.png'))
    assert len(drawn) == 3 and all(p.stat().st_size > 0 for p in drawn)
