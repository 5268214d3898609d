"""One training step and one prediction of mmdet's shipped Mask R-CNN or Cascade Mask R-CNN
with a given loss_cls in every bbox head, on CPU (shared by the tests of the later losses)."""
import copy
from dataclasses import dataclass
from typing import List, Optional

import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs

from test_baselines_integration import heads_of, small_cfg
from test_mmdet_integration import NUM_CLASSES


@dataclass
class DetectorRun:
    heads: List[torch.nn.Module]      # the bbox heads (3 for Cascade)
    log_vars: dict                    # the training step's logged values
    logits: torch.Tensor              # the last head's raw classifier output at prediction
    results: list                     # the two images' DetDataSamples


def train_step_and_predict(detector: str, loss_cls: dict, tmp_path,
                           init_cfg: Optional[list] = 'sigmoid prior') -> DetectorRun:
    """Build ``detector`` with ``loss_cls``, run a training step (backward included) and a
    prediction on two synthetic images. ``init_cfg`` replaces the heads' sigmoid-prior init
    (``None``: mmdet's default)."""
    cfg = small_cfg(detector, loss_cls, tmp_path)
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
    return DetectorRun(heads, log_vars, torch.cat(captured), results)


def assert_detections(run: DetectorRun, expected_scores: Optional[torch.Tensor]) -> None:
    """The predictions are well-formed and, given ``expected_scores`` (the scores of the last
    head's RoIs, rows of both images), every detection carries ``expected_scores[:, label]`` of
    one of them."""
    assert len(run.results) == 2
    for result in run.results:
        pred = result.pred_instances
        assert 0 < len(pred) <= 50
        assert pred.scores.min() >= 1e-4 and pred.scores.max() <= 1
        assert pred.labels.min() >= 0 and pred.labels.max() < NUM_CLASSES
        assert pred.masks.shape[0] == len(pred)
        if expected_scores is None:
            continue
        for score, label in zip(pred.scores, pred.labels):
            assert torch.isclose(expected_scores[:, label], score, rtol=1e-5, atol=1e-7).any()
