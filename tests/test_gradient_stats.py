"""GradientStatsHook and its core against the analytic sigmoid-BCE gradient (autograd)."""
import json
from types import SimpleNamespace

import pytest
import torch
from mmengine.visualization import Visualizer

import mmdet_droploss  # noqa: F401
from conftest import write_frequency_file
from mmdet.registry import MODELS
from mmdet_droploss.analysis import GROUPS, KINDS, PARTS, gradient_sums, group_summary
from mmdet_droploss.hooks import GradientStatsHook

GROUP_LETTERS = 'rrccff'  # classes 0-1 rare, 2-3 common, 4-5 frequent


def fake_runner(model, work_dir, name):
    """What the hook uses of a runner; the visualizer writes ``<work_dir>/vis/scalars.json``."""
    visualizer = Visualizer(name=name, vis_backends=[dict(type='LocalVisBackend')],
                            save_dir=str(work_dir / 'vis'))
    return SimpleNamespace(model=model, work_dir=str(work_dir), iter=0, visualizer=visualizer)


def logged_scalars(work_dir):
    path = work_dir / 'vis' / 'vis_data' / 'scalars.json'
    if not path.exists():
        path = work_dir / 'vis' / 'scalars.json'
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    num, num_classes = 40, len(GROUP_LETTERS)
    cls_score = torch.randn(num, num_classes, generator=g) * 2
    labels = torch.randint(0, num_classes + 1, (num,), generator=g)
    labels[:12] = num_classes  # plenty of background
    label_weights = torch.rand(num, generator=g).round()  # some proposals ignored
    return cls_score, labels, label_weights


def split_by_autograd(loss, cls_score, labels, label_weights, avg_factor):
    """The (3, C) per-class sums of |dL/dx| by part, from autograd of the loss itself."""
    x = cls_score.clone().requires_grad_()
    loss(x, labels, label_weights, avg_factor=avg_factor).backward()
    grad = x.grad.abs()
    num_classes = cls_score.size(1)
    fg = labels < num_classes
    target = torch.zeros_like(grad, dtype=torch.bool)
    target[fg, labels[fg]] = True
    masks = [target, ~target & fg[:, None], ~target & ~fg[:, None]]
    return torch.stack([(grad * m).sum(0) for m in masks])


@pytest.mark.parametrize('loss_type', ['DropLoss', 'EQL', 'BEQL', 'FederatedLoss'])
def test_weighted_sums_equal_the_autograd_gradient_of_the_loss(tmp_path, batch, loss_type):
    cls_score, labels, label_weights = batch
    path = write_frequency_file(tmp_path / 'freq.json', GROUP_LETTERS)
    loss = MODELS.build(dict(type=loss_type, num_classes=6, categories=path, loss_weight=1.5))
    loss.keep_weights = True
    torch.manual_seed(3)
    reference = split_by_autograd(loss, cls_score, labels, label_weights, avg_factor=31.0)
    sums = gradient_sums(cls_score, labels, loss.last_weights, label_weights, 31.0, 1.5)
    assert sums.shape == (2, 3, 6)
    torch.testing.assert_close(sums[0], reference, rtol=1e-5, atol=1e-7)


def test_unweighted_sums_equal_plain_bce(batch):
    cls_score, labels, label_weights = batch
    bce = MODELS.build(dict(type='CrossEntropyCustomLoss', use_sigmoid=True, num_classes=6))
    reference = split_by_autograd(bce, cls_score, labels, label_weights, avg_factor=31.0)
    sums = gradient_sums(cls_score, labels, None, label_weights, 31.0)
    torch.testing.assert_close(sums[1], reference, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(sums[0], sums[1])  # no loss weights: both kinds agree


def test_group_summary_adds_up(batch):
    cls_score, labels, label_weights = batch
    sums = gradient_sums(cls_score, labels, None, label_weights, 40.0)
    group_index = torch.tensor(['rcf'.index(g) for g in GROUP_LETTERS])
    summary = group_summary(sums, group_index)
    for k, kind in enumerate(KINDS):
        for g, group in enumerate(GROUPS):
            members = group_index == g
            for p, part in enumerate(PARTS):
                assert summary[kind][group][part] == pytest.approx(
                    float(sums[k, p, members].sum()), rel=1e-6)
            bg = summary[kind][group]['negative_background']
            fg = summary[kind][group]['negative_foreground']
            assert summary[kind][group]['background_share'] == pytest.approx(bg / (bg + fg))


def test_hook_accumulates_logs_and_saves(tmp_path, batch):
    from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
    cls_score, labels, label_weights = batch
    path = write_frequency_file(tmp_path / 'freq.json', GROUP_LETTERS)
    head = Shared2FCBBoxHead(in_channels=4, fc_out_channels=8, roi_feat_size=1, num_classes=6,
                             loss_cls=dict(type='DropLoss', num_classes=6, categories=path))
    model = torch.nn.Module()
    model.roi_head = torch.nn.Module()
    model.roi_head.bbox_head = head
    runner = fake_runner(model, tmp_path, 'gradient_stats_test')
    hook = GradientStatsHook(interval=2)
    hook.before_train(runner)
    assert head.loss_cls.keep_weights
    expected = torch.zeros(2, 3, 6)
    for step in range(2):
        torch.manual_seed(step)
        head.loss_cls(cls_score, labels, label_weights, avg_factor=20.0)
        expected += gradient_sums(cls_score, labels, head.loss_cls.last_weights,
                                  label_weights, 20.0)
        runner.iter = step
        hook.after_train_iter(runner, step)
    saved = json.loads((tmp_path / 'gradient_stats.json').read_text())
    record = saved['heads']['roi_head.bbox_head']
    assert saved['iter'] == 2 and record['calls'] == 2
    for k, kind in enumerate(KINDS):
        for p, part in enumerate(PARTS):
            assert record['per_class'][kind][part] == pytest.approx(expected[k, p].tolist(),
                                                                     rel=1e-6)
    logged = logged_scalars(tmp_path)
    assert logged[-1]['step'] == 2
    for group in GROUPS:
        for kind, suffix in (('weighted', ''), ('unweighted', '_bce')):
            assert logged[-1][f'grad_bg_share_{group}{suffix}'] == pytest.approx(
                record['summary'][kind][group]['background_share'])
    # a third step, then the end of training (runner.iter = 3 iterations done): final report
    head.loss_cls(cls_score, labels, label_weights, avg_factor=20.0)
    expected += gradient_sums(cls_score, labels, head.loss_cls.last_weights, label_weights, 20.0)
    runner.iter = 2
    hook.after_train_iter(runner, 2)  # not a report iteration
    runner.iter = 3
    hook.after_train(runner)
    saved = json.loads((tmp_path / 'gradient_stats.json').read_text())
    record = saved['heads']['roi_head.bbox_head']
    assert (saved['start_iter'], saved['iter'], record['calls']) == (0, 3, 3)
    assert [h['iter'] for h in saved['history']] == [2, 3]
    assert [r['step'] for r in logged_scalars(tmp_path)] == [2, 3]
    assert record['per_class']['weighted']['negative_background'] == pytest.approx(
        expected[0, 2].tolist(), rel=1e-6)
    assert not head.loss_cls._forward_hooks  # detached after training


def test_tensor_avg_factor_and_integer_labels_on_any_device(batch):
    cls_score, labels, label_weights = batch
    as_float = gradient_sums(cls_score, labels, None, label_weights, 31.0, 2.0)
    as_tensor = gradient_sums(cls_score.half(), labels, None, label_weights,
                              torch.tensor(31.0), 2.0)
    torch.testing.assert_close(as_tensor, as_float, rtol=2e-3, atol=1e-5)
    # background rows (label C) contribute no positive part
    only_bg = gradient_sums(cls_score, torch.full_like(labels, 6), None, None, None)
    assert only_bg[:, 0].abs().sum() == 0 and only_bg[:, 1].abs().sum() == 0
    torch.testing.assert_close(only_bg[1, 2], cls_score.sigmoid().sum(0) / len(labels))


def test_every_stage_of_a_cascade_is_recorded_and_logged(tmp_path, batch):
    from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
    cls_score, labels, label_weights = batch
    path = write_frequency_file(tmp_path / 'freq.json', GROUP_LETTERS)
    model = torch.nn.Module()
    model.roi_head = torch.nn.Module()
    model.roi_head.bbox_head = torch.nn.ModuleList([
        Shared2FCBBoxHead(in_channels=4, fc_out_channels=8, roi_feat_size=1, num_classes=6,
                          loss_cls=dict(type='EQL', num_classes=6, categories=path))
        for _ in range(3)])
    runner = fake_runner(model, tmp_path, 'gradient_stats_cascade')
    hook = GradientStatsHook(interval=1)
    hook.before_train(runner)
    for stage, head in enumerate(model.roi_head.bbox_head):
        head.loss_cls(cls_score * (stage + 1), labels, label_weights, avg_factor=40.0)
    hook.after_train_iter(runner, 0)
    saved = json.loads((tmp_path / 'gradient_stats.json').read_text())
    assert sorted(saved['heads']) == [f'roi_head.bbox_head.{i}' for i in range(3)]
    for stage in range(3):
        record = saved['heads'][f'roi_head.bbox_head.{stage}']
        expected = gradient_sums(cls_score * (stage + 1), labels, None, label_weights, 40.0)
        assert record['per_class']['unweighted']['positive'] == pytest.approx(
            expected[1, 0].tolist(), rel=1e-6)
        key = 'grad_bg_share_c_bce' + (f'_stage{stage + 1}' if stage else '')
        assert logged_scalars(tmp_path)[0][key] == pytest.approx(
            record['summary']['unweighted']['c']['background_share'])


def test_interval_is_validated():
    with pytest.raises(ValueError, match='interval'):
        GradientStatsHook(interval=0)


def test_focal_base_loss_is_not_measured(tmp_path):
    """The sums assume BCE's gradient: a head whose loss runs on the focal base is skipped."""
    from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
    path = write_frequency_file(tmp_path / 'freq.json', GROUP_LETTERS)
    model = torch.nn.Module()
    model.roi_head = torch.nn.Module()
    model.roi_head.bbox_head = Shared2FCBBoxHead(
        in_channels=4, fc_out_channels=8, roi_feat_size=1, num_classes=6,
        loss_cls=dict(type='EQL', num_classes=6, categories=path, base_loss='focal'))
    hook = GradientStatsHook(interval=1)
    hook.before_train(fake_runner(model, tmp_path, 'gradient_stats_focal'))
    assert not hook._handles and not model.roi_head.bbox_head.loss_cls.keep_weights
