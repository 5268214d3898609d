"""EQL, BEQL and DropLoss as the loss_cls of mmdet's sigmoid dense heads (RetinaNet, FCOS, ATSS)
and DETR-style heads (Deformable DETR, DINO), built from mmdet's own shipped configs and shrunk
for CPU (tests/dense_detector.py).

A user swaps the type in the head's FocalLoss (keeping use_sigmoid, gamma, alpha, loss_weight);
each detector trains one step and predicts. Without tail classes every loss must reproduce the
head's own FocalLoss exactly, which checks the base loss, its gamma and alpha, the label
convention and the normalisation each head passes.
"""
import pytest
import torch

from dense_detector import CALLS_PER_STEP, DETECTORS, GROUPS, NUM_CLASSES, assert_predictions, \
    batch, build_detector, classifiers, is_detr, losses_of

TAIL = torch.tensor([g in 'rc' for g in GROUPS])
LOSSES = {'EQL': {}, 'BEQL': dict(log_base=4.0), 'DropLoss': {}}


@pytest.mark.parametrize('name', list(DETECTORS))
def test_without_tail_classes_each_loss_is_the_heads_focal_loss(name, tmp_path, frequency_file):
    path = frequency_file('f' * NUM_CLASSES)
    focal = build_detector(name, {}, tmp_path)  # the shipped FocalLoss
    packed = batch()
    focal.train()
    expected = losses_of(focal, packed)
    for loss_name, kwargs in LOSSES.items():
        model = build_detector(name, dict(type=loss_name, num_classes=NUM_CLASSES,
                                          categories=path, **kwargs), tmp_path)
        loss = model.bbox_head.loss_cls
        assert (loss.base_loss, loss.gamma, loss.alpha) == ('focal', 2.0, 0.25)
        assert loss.head_family == ('detr' if is_detr(name) else 'dense')
        model.train()
        got = losses_of(model, packed)
        cls_keys = [k for k in expected if 'loss_cls' in k]
        assert cls_keys and set(got) == set(expected)
        for key in cls_keys:
            torch.testing.assert_close(torch.as_tensor(got[key]).sum(),
                                       torch.as_tensor(expected[key]).sum(),
                                       rtol=1e-5, atol=1e-7, msg=f'{loss_name} {key}')


@pytest.mark.parametrize('loss_name', list(LOSSES))
@pytest.mark.parametrize('name', list(DETECTORS))
def test_train_step_and_predict(name, loss_name, tmp_path, frequency_file):
    model = build_detector(name, dict(type=loss_name, num_classes=NUM_CLASSES,
                                      categories=frequency_file(GROUPS), **LOSSES[loss_name]),
                           tmp_path)
    loss_module = model.bbox_head.loss_cls
    for layer in classifiers(name, model):  # C sigmoid outputs per anchor, no background
        out = layer.out_features if hasattr(layer, 'out_features') else layer.out_channels
        priors = getattr(model.bbox_head, 'num_base_priors', 1)
        assert out == priors * NUM_CLASSES

    # record every loss call of one step: labels, label weights and the weights used
    calls = []
    loss_module.keep_weights = True

    def record(module, args, kwargs, output):
        label_weights = args[2] if len(args) > 2 else kwargs.get('label_weights')
        calls.append((args[1].clone(), label_weights, module.last_weights.clone()))
    handle = loss_module.register_forward_hook(record, with_kwargs=True)
    model.train()
    losses = losses_of(model, batch())
    handle.remove()
    loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    for layer in classifiers(name, model):
        assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()
    assert classifiers(name, model)[-1].weight.grad.abs().sum() > 0
    assert len(calls) == CALLS_PER_STEP[name]

    num_fg = 0
    for labels, label_weights, weights in calls:
        assert labels.min() >= 0 and labels.max() <= NUM_CLASSES
        fg = labels < NUM_CLASSES
        num_fg += int(fg.sum())
        target = torch.nn.functional.one_hot(labels, NUM_CLASSES + 1)[:, :NUM_CLASSES].bool()
        # foreground samples: EQL's rule, no push on other tail classes
        expected_fg = ~(TAIL & ~target[fg])
        assert torch.equal(weights[fg].bool(), expected_fg)
        bg = weights[~fg]
        if loss_name == 'EQL':
            assert bg.eq(1).all()
        elif loss_name == 'DropLoss':  # tail entries dropped or kept, frequent ones kept
            assert bg[:, ~TAIL].eq(1).all() and (bg.eq(0) | bg.eq(1)).all()
        else:
            assert (bg >= 0).all() and (bg <= 1).all() and bg[:, ~TAIL].eq(1).all()
    assert num_fg > 0, 'the batch must give the head some foreground samples'

    assert_predictions(model)
