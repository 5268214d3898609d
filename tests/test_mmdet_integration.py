"""The losses inside real mmdet detectors built from mmdet's own shipped configs.

Each detector gets the loss swapped into every bbox head (Cascade: all three stages) the way a
user's config does it, with the prior-probability bias init, then runs one training step on a
small synthetic batch on CPU and one prediction.
"""
import copy
import math

import pytest
import torch
from mmengine.config import Config
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules

import mmdet_droploss  # noqa: F401

register_all_modules()

GROUPS = 'rrrccff'  # 7 classes: 3 rare, 2 common, 2 frequent
NUM_CLASSES = len(GROUPS)
PRIOR = 0.001
DETECTORS = {
    'faster_rcnn': 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'mask_rcnn': 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    'cascade_mask_rcnn': 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
}
# The init_cfg a config gives a bbox head for these losses (README: "Classifier bias").
SIGMOID_HEAD_INIT = [
    dict(type='Normal', std=0.01, bias_prob=PRIOR, override=dict(name='fc_cls')),
    dict(type='Normal', std=0.001, override=dict(name='fc_reg')),
    dict(type='Xavier', distribution='uniform',
         override=[dict(name='shared_fcs'), dict(name='cls_fcs'), dict(name='reg_fcs')]),
]


def detector_cfg(name: str, loss_cls: dict, tmp_path) -> Config:
    # Inherit like a user's config does; the base's loss_cls keys (use_sigmoid, loss_weight)
    # would be merged into ours without _delete_.
    path = tmp_path / f'{name}.py'
    path.write_text(f"_base_ = '{DETECTORS[name]}'\n")
    cfg = Config.fromfile(str(path))
    model = cfg.model
    model.backbone.init_cfg = None  # no pretrained download
    heads = model.roi_head.bbox_head
    for head in heads if isinstance(heads, list) else [heads]:
        head.num_classes = NUM_CLASSES
        head.loss_cls = copy.deepcopy(loss_cls)
        head.init_cfg = copy.deepcopy(SIGMOID_HEAD_INIT)
    if 'mask_head' in model.roi_head:
        model.roi_head.mask_head.num_classes = NUM_CLASSES
    rcnn_test = model.test_cfg.rcnn
    rcnn_test.score_thr = 1e-4
    rcnn_test.max_per_img = 300
    return cfg


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
    cfg = detector_cfg(detector, loss_cls, tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()

    heads = model.roi_head.bbox_head
    heads = list(heads) if isinstance(heads, torch.nn.ModuleList) else [heads]
    assert len(heads) == (3 if detector.startswith('cascade') else 1)
    for head in heads:
        assert head.fc_cls.out_features == NUM_CLASSES  # C logits, no background logit
        # class-specific regression covers every class (Cascade stages are class-agnostic)
        assert head.fc_reg.out_features == (4 if head.reg_class_agnostic else 4 * NUM_CLASSES)
        expected_bias = -math.log((1 - PRIOR) / PRIOR)
        torch.testing.assert_close(head.fc_cls.bias.detach(), torch.full((NUM_CLASSES,), expected_bias))

    # one training step
    model.train()
    packed = demo_mm_inputs(2, [(3, 128, 160), (3, 96, 128)], num_items=[3, 2],
                            num_classes=NUM_CLASSES, with_mask=True)
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    for head in heads:
        grad = head.fc_cls.weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    prefix = 's0.' if detector.startswith('cascade') else ''
    acc_key = f'{prefix}acc_classes' if loss_name == 'BCE' else f'{prefix}acc'
    assert 0 <= log_vars[acc_key] <= 100
    assert log_vars[f'{prefix}loss_cls'] > 0

    # prediction
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(packed, False)
        results = model(**data, mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert len(pred) > 0, 'score_thr=1e-4 must keep detections of an untrained sigmoid head'
        assert len(pred) <= 300
        assert pred.scores.min() >= 1e-4 and pred.scores.max() <= 1
        assert pred.labels.min() >= 0 and pred.labels.max() < NUM_CLASSES
        if detector != 'faster_rcnn':
            assert pred.masks.shape[0] == len(pred)
