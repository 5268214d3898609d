"""The losses inside real mmdet detectors built from mmdet's own shipped configs.

Each detector gets the loss swapped into every bbox head (Cascade: all three stages) the way a
user's config does it, with the prior-probability bias init, then runs one training step on a
small synthetic batch on CPU and one prediction (tests/roi_detector.py).
"""
import math

import pytest
import torch

from roi_detector import DETECTORS, GROUPS, MAX_DETECTIONS, NUM_CLASSES, PRIOR, \
    train_step_and_predict


LOSSES = {
    'DropLoss': dict(type='DropLoss'),
    'EQL': dict(type='EQL'),
    'BEQL': dict(type='BEQL', log_base=4.0),
    'BCE': dict(type='CrossEntropyCustomLoss', use_sigmoid=True, num_classes=NUM_CLASSES),
}
CASES = [(d, l) for d in DETECTORS for l in ('DropLoss', 'EQL', 'BEQL')] + [('mask_rcnn', 'BCE')]


@pytest.mark.parametrize('detector, loss_name', CASES)
def test_train_step_and_predict(detector, loss_name, tmp_path, frequency_file):
    loss_cls = dict(LOSSES[loss_name])
    if loss_name != 'BCE':
        loss_cls.update(num_classes=NUM_CLASSES, categories=frequency_file(GROUPS))
    # one training step (backward, no optimizer step: the init is still in place) and one
    # prediction, on fewer RoIs than mmdet's recipe (roi_detector.detector_cfg)
    run = train_step_and_predict(detector, loss_cls, tmp_path)
    heads = run.heads
    assert len(heads) == (3 if detector.startswith('cascade') else 1)
    for head in heads:
        assert head.fc_cls.out_features == NUM_CLASSES  # C logits, no background logit
        # class-specific regression covers every class (Cascade stages are class-agnostic)
        assert head.fc_reg.out_features == (4 if head.reg_class_agnostic else 4 * NUM_CLASSES)
        expected_bias = -math.log((1 - PRIOR) / PRIOR)
        torch.testing.assert_close(head.fc_cls.bias.detach(), torch.full((NUM_CLASSES,), expected_bias))

    # the training step (loss finite, checked by train_step_and_predict)
    log_vars = run.log_vars
    for head in heads:
        grad = head.fc_cls.weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    prefix = 's0.' if detector.startswith('cascade') else ''
    acc_key = f'{prefix}acc_classes' if loss_name == 'BCE' else f'{prefix}acc'
    assert 0 <= log_vars[acc_key] <= 100
    assert log_vars[f'{prefix}loss_cls'] > 0

    # prediction
    results = run.results
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert len(pred) > 0, 'score_thr=1e-4 must keep detections of an untrained sigmoid head'
        assert len(pred) <= MAX_DETECTIONS  # the per-image cap of test_cfg.rcnn.max_per_img
        assert pred.scores.min() >= 1e-4 and pred.scores.max() <= 1
        assert pred.labels.min() >= 0 and pred.labels.max() < NUM_CLASSES
        if detector != 'faster_rcnn':
            assert pred.masks.shape[0] == len(pred)
