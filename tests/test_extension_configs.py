"""configs/extension/: RetinaNet R50 on LVIS v1 with the focal-loss baseline, EQL and DropLoss
(beyond the paper), and configs/efl/: the same with EFL: mmdet's RetinaNet and LVIS recipe
values, and the models build on CPU."""
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

import mmdet_droploss  # noqa: F401

register_all_modules()
ROOT = Path(__file__).resolve().parents[1]
EXTENSION = {'focal': 'FocalLoss', 'eql': 'EQL', 'droploss': 'DropLoss'}
CONFIGS = {**EXTENSION, 'efl': 'EFL'}
#: keys of each loss_cls beyond the focal loss's (EFL: its scale factor s)
OWN_KEYS = {'efl': {'scale_factor'}}


def load(method: str) -> Config:
    folder = 'efl' if method == 'efl' else 'extension'
    return Config.fromfile(str(ROOT / f'configs/{folder}/retinanet_r50_lvis_v1_{method}.py'))


def test_the_folder_holds_exactly_these_configs():
    found = sorted(p.name for p in (ROOT / 'configs/extension').glob('*.py'))
    assert found == sorted(f'retinanet_r50_lvis_v1_{m}.py' for m in EXTENSION)
    assert sorted(p.name for p in (ROOT / 'configs/efl').glob('*.py')) == [
        'retinanet_r50_lvis_v1_efl.py']
    for name in found:
        assert (ROOT / 'configs/extension' / name).read_text().startswith(
            '# EXTENSION BEYOND THE PAPER')


@pytest.mark.parametrize('method', list(CONFIGS))
def test_recipe(method):
    cfg = load(method)
    assert 'mmdet_droploss' in cfg.custom_imports['imports']
    assert dict(type='CheckCategoriesHook') in cfg.custom_hooks
    head = cfg.model.bbox_head
    assert cfg.model.type == 'RetinaNet' and head.type == 'RetinaHead'
    assert head.num_classes == 1203 and cfg.model.backbone.depth == 50
    loss = head.loss_cls
    assert loss.type == CONFIGS[method]
    # the head's own focal loss, kept under the weights
    assert (loss.use_sigmoid, loss.gamma, loss.alpha, loss.loss_weight) == (True, 2.0, 0.25, 1.0)
    if method != 'focal':
        assert (loss.num_classes, loss.categories) == (1203, 'lvis_v1')
        assert set(loss) == {'type', 'num_classes', 'categories', 'use_sigmoid', 'gamma',
                             'alpha', 'loss_weight'} | OWN_KEYS.get(method, set())
    if method == 'efl':
        assert loss.scale_factor == 8.0  # the paper's s
    # mmdet's LVIS recipe: RFS 1e-3, multi-scale 640..800, boxes only, LVIS test settings
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'ClassBalancedDataset' and dataset.oversample_thr == 0.001
    assert dataset.dataset.type == 'LVISV1Dataset'
    assert dataset.dataset.ann_file == 'annotations/lvis_v1_train.json'
    resize = next(t for t in dataset.dataset.pipeline if t.type == 'RandomChoiceResize')
    assert resize.scales == [(1333, s) for s in (640, 672, 704, 736, 768, 800)]
    for pipeline in (dataset.dataset.pipeline, cfg.val_dataloader.dataset.pipeline,
                     cfg.test_dataloader.dataset.pipeline):
        annotations = next(t for t in pipeline if t.type == 'LoadAnnotations')
        assert annotations.with_bbox and not annotations.get('with_mask', False)
    assert cfg.val_evaluator.type == 'FastLVISMetric' and cfg.val_evaluator.metric == 'bbox'
    assert cfg.test_evaluator.metric == 'bbox'
    assert cfg.val_evaluator.ann_file.endswith('lvis_v1_val.json')
    assert (cfg.model.test_cfg.score_thr, cfg.model.test_cfg.max_per_img) == (0.0001, 300)
    # RetinaNet's lr at batch 16, the 90k-iteration LVIS schedule
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_cfg.max_iters == 90000


@pytest.mark.parametrize('method', list(CONFIGS))
def test_model_builds_on_cpu(method):
    cfg = load(method)
    cfg.model.backbone.init_cfg = None  # no pretrained download
    model = MODELS.build(cfg.model)
    head = model.bbox_head
    assert head.retina_cls.out_channels == 9 * 1203  # 9 anchors x C sigmoid logits
    if method != 'focal':
        loss = head.loss_cls
        assert (loss.head_family, loss.base_loss, loss.gamma, loss.alpha) == (
            'dense', 'focal', 2.0, 0.25)
        if method == 'efl':  # no statistics yet: the first step is the focal loss
            assert loss.scale_factor == 8.0 and int(loss.num_updates) == 0
            assert loss.pos_grad.shape == (1203,) and not loss.pos_grad.any()
        else:
            assert int(loss.tail_mask.sum()) == 337 + 461  # LVIS v1 rare + common
    head.init_weights()
    prior = -math.log((1 - 0.01) / 0.01)  # RetinaNet's classifier prior
    torch.testing.assert_close(head.retina_cls.bias.detach(),
                               torch.full_like(head.retina_cls.bias, prior))
