"""EQL, BEQL and DropLoss as the loss_cls of mmdet's sigmoid dense heads (RetinaNet, FCOS, ATSS)
and DETR-style heads (Deformable DETR, DINO), built from mmdet's own shipped configs.

A user swaps the type in the head's FocalLoss (keeping use_sigmoid, gamma, alpha, loss_weight);
the detectors are shrunk for CPU (ResNet-18 with 16 base channels, one transformer layer, few
queries, 64-96 px images) and train one step and predict. Without tail classes every loss must
reproduce the head's own FocalLoss exactly, which checks the base loss, its gamma and alpha,
the label convention and the normalisation each head passes.
"""
import copy

import pytest
import torch
from mmengine.config import Config
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules

import mmdet_droploss  # noqa: F401

register_all_modules()

GROUPS = 'rrccff'  # 6 classes: 2 rare, 2 common, 2 frequent
NUM_CLASSES = len(GROUPS)
TAIL = torch.tensor([g in 'rc' for g in GROUPS])
DETECTORS = {
    'retinanet': 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    'fcos': 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
    'atss': 'mmdet::atss/atss_r50_fpn_1x_coco.py',
    'deformable_detr': 'mmdet::deformable_detr/deformable-detr_r50_16xb2-50e_coco.py',
    'dino': 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
}
LOSSES = {'EQL': {}, 'BEQL': dict(log_base=4.0), 'DropLoss': {}}
# loss_cls calls per training step (the samples DropLoss counts its ratio over): one per FPN
# level (RetinaNet, ATSS), one for all levels (FCOS), one per decoder layer (Deformable DETR),
# per decoder layer for matched and for denoising queries plus one for the encoder (DINO).
CALLS_PER_STEP = {'retinanet': 5, 'fcos': 1, 'atss': 5, 'deformable_detr': 1, 'dino': 3}


def is_detr(name: str) -> bool:
    return name in ('deformable_detr', 'dino')


def detector_cfg(name: str, loss_cls: dict, tmp_path) -> Config:
    """mmdet's config with ``loss_cls`` merged into the head's (as a user's config does) and
    the model shrunk for a CPU step."""
    path = tmp_path / f'{name}.py'
    path.write_text(f"_base_ = '{DETECTORS[name]}'\n"
                    f'model = dict(bbox_head=dict(num_classes={NUM_CLASSES}, '
                    f'loss_cls={loss_cls!r}))\n')
    cfg = Config.fromfile(str(path))
    model = cfg.model
    out_indices = model.backbone.out_indices
    model.backbone.update(depth=18, base_channels=16, init_cfg=None)
    model.neck.in_channels = [16 * 2**i for i in out_indices]
    if is_detr(name):
        model.num_queries = 30
        model.encoder.num_layers = 1
        model.decoder.num_layers = 1
        model.test_cfg.max_per_img = 50
        if name == 'dino':
            model.dn_cfg.group_cfg.num_dn_queries = 12
    else:
        model.neck.out_channels = 32
        model.bbox_head.update(in_channels=32, feat_channels=32, stacked_convs=1)
        model.test_cfg.update(score_thr=1e-4, max_per_img=50)
    return cfg


def build_detector(name, loss_cls, tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(detector_cfg(name, loss_cls, tmp_path).model)
    model.init_weights()
    return model


CLASSIFIER = {'retinanet': 'retina_cls', 'fcos': 'conv_cls', 'atss': 'atss_cls'}


def classifiers(name, model):
    head = model.bbox_head
    return list(head.cls_branches) if is_detr(name) else [getattr(head, CLASSIFIER[name])]


def batch():
    return demo_mm_inputs(2, [(3, 96, 96), (3, 64, 96)], num_items=[3, 2],
                          num_classes=NUM_CLASSES)


def losses_of(model, packed, seed=1):
    torch.manual_seed(seed)  # DINO's denoising noise, dropout
    data = model.data_preprocessor(copy.deepcopy(packed), True)
    return model(**data, mode='loss')


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

    model.eval()
    packed = batch()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert len(pred) > 0
        assert pred.labels.min() >= 0 and pred.labels.max() < NUM_CLASSES
        assert pred.scores.min() >= 0 and pred.scores.max() <= 1
