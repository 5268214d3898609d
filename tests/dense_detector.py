"""mmdet's sigmoid dense detectors (RetinaNet, FCOS, ATSS) and DETR-style detectors (Deformable
DETR, DINO), built from mmdet's own shipped configs with a given loss_cls merged into the head's,
shrunk for CPU (ResNet-18 with 16 base channels, one transformer layer, few queries, 64-96 px
images): a training step's losses and a checked prediction (shared by the tests of the losses
that serve these heads)."""
import copy

import torch
from mmengine.config import Config
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules

import mmdet_droploss  # noqa: F401

register_all_modules()

GROUPS = 'rrccff'  # 6 classes: 2 rare, 2 common, 2 frequent
NUM_CLASSES = len(GROUPS)
DETECTORS = {
    'retinanet': 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    'fcos': 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
    'atss': 'mmdet::atss/atss_r50_fpn_1x_coco.py',
    'deformable_detr': 'mmdet::deformable_detr/deformable-detr_r50_16xb2-50e_coco.py',
    'dino': 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
}
# loss_cls calls per training step (the samples DropLoss counts its ratio over): one per FPN
# level (RetinaNet, ATSS), one for all levels (FCOS), one per decoder layer (Deformable DETR),
# per decoder layer for matched and for denoising queries plus one for the encoder (DINO).
CALLS_PER_STEP = {'retinanet': 5, 'fcos': 1, 'atss': 5, 'deformable_detr': 1, 'dino': 3}
CLASSIFIER = {'retinanet': 'retina_cls', 'fcos': 'conv_cls', 'atss': 'atss_cls'}


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


def assert_predictions(model) -> None:
    """``model`` (switched to eval mode) predicts on :func:`batch`: detections on both images,
    labels among the ``NUM_CLASSES`` classes, scores in [0, 1]."""
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(batch(), False), mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert len(pred) > 0
        assert pred.labels.min() >= 0 and pred.labels.max() < NUM_CLASSES
        assert pred.scores.min() >= 0 and pred.scores.max() <= 1
