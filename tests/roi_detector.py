"""One training step and one prediction of mmdet's shipped Faster R-CNN, Mask R-CNN or Cascade
Mask R-CNN with a given loss_cls in every bbox head, on CPU, and the checks of both (shared by
tests/test_mmdet_integration.py and the tests of the later losses)."""
import copy
from dataclasses import dataclass
from typing import List, Optional

import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config

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
# Fewer RoIs than mmdet's COCO recipe, the heads untouched: every path still runs (sampling
# of foreground and background RoIs, the loss, NMS under the per-image cap, masks), at a
# fraction of the CPU time (the mask heads of Cascade on 3 x 2 x 300 detections, and the
# backward through ResNet-50, were most of a minute per case).
TEST_PROPOSALS = dict(nms_pre=300, max_per_img=100)
TRAIN_PROPOSALS = 200  # RPN proposals per training image (mmdet: 1000)
SAMPLED_ROIS = 64  # RoIs sampled per image and stage for the R-CNN head (mmdet: 512)
MAX_DETECTIONS = 50  # per image (LVIS: 300)


def detector_cfg(name: str, loss_cls: dict, tmp_path) -> Config:
    """mmdet's shipped config of ``name`` with ``loss_cls`` and the sigmoid-prior init in every
    bbox head, a frozen backbone (no backward through it) and the small workload above."""
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
    model.backbone.frozen_stages = 4
    model.train_cfg.rpn_proposal.max_per_img = TRAIN_PROPOSALS
    rcnn_train = model.train_cfg.rcnn
    for stage in rcnn_train if isinstance(rcnn_train, list) else [rcnn_train]:
        stage.sampler.num = SAMPLED_ROIS
    model.test_cfg.rpn.update(TEST_PROPOSALS)
    rcnn_test = model.test_cfg.rcnn
    rcnn_test.score_thr = 1e-4
    rcnn_test.max_per_img = MAX_DETECTIONS
    return cfg


def heads_of(model):
    heads = model.roi_head.bbox_head
    return list(heads) if isinstance(heads, torch.nn.ModuleList) else [heads]


@dataclass
class DetectorRun:
    model: torch.nn.Module            # the detector, trained a step, in eval mode
    heads: List[torch.nn.Module]      # the bbox heads (3 for Cascade)
    log_vars: dict                    # the training step's logged values
    logits: torch.Tensor              # the last head's raw classifier output at prediction
    results: list                     # the two images' DetDataSamples


def train_step_and_predict(detector: str, loss_cls: dict, tmp_path,
                           init_cfg: Optional[list] = 'sigmoid prior') -> DetectorRun:
    """Build ``detector`` with ``loss_cls``, run a training step (backward included) and a
    prediction on two synthetic images. ``init_cfg`` replaces the heads' sigmoid-prior init
    (``None``: mmdet's default)."""
    cfg = detector_cfg(detector, loss_cls, tmp_path)
    if init_cfg != 'sigmoid prior':
        for head in cfg.model.roi_head.bbox_head if detector.startswith('cascade') \
                else [cfg.model.roi_head.bbox_head]:
            head.init_cfg = copy.deepcopy(init_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    heads = heads_of(model)
    model.train()
    packed = demo_mm_inputs(2, [(3, 128, 160), (3, 96, 128)], num_items=[3, 2],
                            num_classes=NUM_CLASSES, with_mask=True)
    data = model.data_preprocessor(packed, True)
    loss, log_vars = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(loss)
    loss.backward()
    model.eval()
    captured = []
    hook = heads[-1].register_forward_hook(lambda module, args, output: captured.append(output[0]))
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    hook.remove()
    return DetectorRun(model, heads, log_vars, torch.cat(captured), results)


def assert_trained(run: DetectorRun, detector: str, channels: int) -> None:
    """Every bbox head (three for Cascade) has ``channels`` classifier outputs and got a finite,
    non-zero classifier gradient; the (first) stage logged a positive loss_cls and an accuracy
    in [0, 100]."""
    assert len(run.heads) == (3 if detector.startswith('cascade') else 1)
    for head in run.heads:
        assert head.fc_cls.out_features == channels
        grad = head.fc_cls.weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    prefix = 's0.' if detector.startswith('cascade') else ''
    assert run.log_vars[f'{prefix}loss_cls'] > 0 and 0 <= run.log_vars[f'{prefix}acc'] <= 100


def objectness_scores(logits: torch.Tensor) -> torch.Tensor:
    """The C class scores ``sigmoid(x_j) * (1 - sigmoid(x_bg))`` of (N, C + 1) logits whose last
    column is the objectness channel (EQLv2, ECM)."""
    p = logits.sigmoid()
    return p[:, :-1] * (1 - p[:, -1:])


def assert_detections(run: DetectorRun, expected_scores: Optional[torch.Tensor]) -> None:
    """The predictions are well-formed and, given ``expected_scores`` (the scores of the last
    head's RoIs, rows of both images), every detection carries ``expected_scores[:, label]`` of
    one of them."""
    assert len(run.results) == 2
    for result in run.results:
        pred = result.pred_instances
        assert 0 < len(pred) <= MAX_DETECTIONS
        assert pred.scores.min() >= 1e-4 and pred.scores.max() <= 1
        assert pred.labels.min() >= 0 and pred.labels.max() < NUM_CLASSES
        assert pred.masks.shape[0] == len(pred)
        if expected_scores is None:
            continue
        for score, label in zip(pred.scores, pred.labels):
            assert torch.isclose(expected_scores[:, label], score, rtol=1e-5, atol=1e-7).any()
