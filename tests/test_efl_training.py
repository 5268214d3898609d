"""EFL in training, against the reference of tests/test_efl.py: its statistics across a checkpoint
save / resume and summed over 2 processes (tests/gradient_statistics_checks.py), and inside
mmdet's RetinaNet, FCOS and ATSS (tests/dense_detector.py)."""
import functools

import pytest
import torch

from dense_detector import CALLS_PER_STEP, GROUPS as DETECTOR_GROUPS, assert_predictions, \
    batch as detector_batch, build_detector, classifiers, losses_of
from gradient_statistics_checks import check_resume, check_two_processes
from test_efl import GROUPS, EFLReference, batch, build, run_step


@pytest.fixture
def freq(frequency_file):
    return frequency_file(GROUPS)


def test_statistics_survive_a_checkpoint_save_and_resume(freq, tmp_path):
    check_resume(functools.partial(build, freq), batch, run_step, EFLReference(), tmp_path)


def test_two_processes_sum_their_statistics(freq, tmp_path):
    check_two_processes(functools.partial(build, freq), batch, EFLReference(), tmp_path)


@pytest.mark.parametrize('name', ['retinanet', 'fcos', 'atss'])
def test_mmdet_dense_heads_train_a_step_and_predict(name, tmp_path, frequency_file):
    """The shipped config with its FocalLoss's type changed to EFL: the first loss call is the
    focal loss; after the step the statistics are the column sums of |gradient| that autograd
    gives the logits of every call (what the authors' backward hook collects)."""
    cfg = dict(type='EFL', num_classes=len(DETECTOR_GROUPS),
               categories=frequency_file(DETECTOR_GROUPS))
    model, focal = build_detector(name, cfg, tmp_path), build_detector(name, {}, tmp_path)
    loss_module = model.bbox_head.loss_cls
    assert (loss_module.head_family, loss_module.gamma, loss_module.alpha) == ('dense', 2., .25)
    calls = []

    def grab(module, args):
        args[0].retain_grad()
        calls.append((args[0], args[1].clone()))
    handle = loss_module.register_forward_pre_hook(grab)
    model.train()
    focal.train()
    losses, expected = losses_of(model, detector_batch()), losses_of(focal, detector_batch())
    handle.remove()
    torch.testing.assert_close(torch.as_tensor(losses['loss_cls']).reshape(-1)[0],
                               torch.as_tensor(expected['loss_cls']).reshape(-1)[0], rtol=1e-5,
                               atol=1e-7)
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert torch.isfinite(loss) and classifiers(name, model)[0].weight.grad.abs().sum() > 0
    assert len(calls) == CALLS_PER_STEP[name] == int(loss_module.num_updates)
    pos = neg = 0
    for cls_score, labels in calls:
        target = torch.nn.functional.one_hot(labels, cls_score.size(1) + 1)[:, :-1].float()
        pos = pos + (cls_score.grad.abs() * target).sum(0)
        neg = neg + (cls_score.grad.abs() * (1 - target)).sum(0)
    assert pos.sum() > 0
    torch.testing.assert_close(loss_module.pos_grad, pos, rtol=1e-4, atol=1e-9)
    torch.testing.assert_close(loss_module.neg_grad, neg, rtol=1e-4, atol=1e-9)

    assert_predictions(model)
    assert int(loss_module.num_updates) == CALLS_PER_STEP[name]  # predicting adds nothing
