"""Every config under configs/: the paper's recipe values, and the model builds on CPU."""
import math
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import mmdet_droploss  # noqa: F401
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

ROOT = Path(__file__).resolve().parents[1]
# configs/extension/ and configs/efl/ (one-stage detectors): tests/test_extension_configs.py
ONE_STAGE = ('extension', 'efl')
# (the parts below the repository root: the checkout's own path may contain any folder name)
_ALL = sorted(p.relative_to(ROOT) for p in (ROOT / 'configs').rglob('*.py'))
CONFIGS = [str(p) for p in _ALL if '_base_' not in p.parts and not set(ONE_STAGE) & set(p.parts)]
# configs/demo/ and configs/benchmark/: tiny CPU models on the built-in synthetic sets
PAPER_CONFIGS = [c for c in CONFIGS
                 if not c.startswith(('configs/demo/', 'configs/benchmark/'))]
LOSS_OF_FOLDER = {'baseline': 'CrossEntropyCustomLoss', 'softmax': 'CrossEntropyLoss',
                  'eql': 'EQL', 'beql': 'BEQL', 'droploss': 'DropLoss',
                  'fixed_ratio': 'DropLoss', 'eqlv2': 'EQLv2', 'federated': 'FederatedLoss',
                  'seesaw': 'SeesawLoss', 'ecm': 'ECM', 'gol': 'DropLoss'}
# bias prior of the classifier: the DropLoss paper's 0.001 unless the method's authors use
# another (None: mmdet's default init, biases 0; GOL: bias -2, i.e. sigmoid(-2))
PRIOR_OF_FOLDER = {'softmax': None, 'seesaw': None, 'eqlv2': None, 'federated': 0.01,
                   'ecm': None, 'gol': 1 / (1 + math.exp(2.0))}
register_all_modules()


@pytest.fixture(scope='module', autouse=True)
def demo_categories(demo_data, tmp_path_factory):
    """The demo and benchmark configs read their category frequencies from the generated data
    (the benchmark's annotations only: no images are needed to build a model)."""
    from mmdet_droploss.datasets import generate_lvis_regime
    bench = generate_lvis_regime(str(tmp_path_factory.mktemp('bench_data')), write_images=False)
    mp = pytest.MonkeyPatch()
    mp.setenv('MMDET_DROPLOSS_DEMO_DATA', demo_data['root'] + '/')
    mp.setenv('MMDET_DROPLOSS_BENCH_DATA', bench['root'] + '/')
    yield
    mp.undo()


def expected(config: str) -> dict:
    """What the paper's experiment behind a config path prescribes."""
    folder, name = Path(config).parent.name, Path(config).stem
    v1 = '_v1' in name
    exp = dict(loss=LOSS_OF_FOLDER[folder], num_classes=1203 if v1 else 1230,
               categories='lvis_v1' if v1 else 'lvis_v0.5', rfs='_rfs' in name,
               stages=3 if name.startswith('cascade') else 1,
               depth=101 if '_r101_' in name else 50,
               dataset='LVISV1Dataset' if v1 else 'LVISV05Dataset', extra={})
    if folder == 'beql':
        exp['extra'] = dict(log_base=float(re.search(r'_b(\d+)$', name)[1]))
    if folder == 'fixed_ratio':
        exp['extra'] = dict(drop_ratio=int(re.search(r'_drop(\d+)$', name)[1]) / 100)
    if name.endswith('_eq7'):
        exp['extra'] = dict(drop_frequent=True)
    if folder == 'gol':
        exp['extra'] = dict(activation='gumbel')
    return exp


def stages(cfg):
    heads = cfg.model.roi_head.bbox_head
    return heads if isinstance(heads, list) else [heads]


def test_the_matrix_of_the_paper_is_covered():
    names = {c.removeprefix('configs/') for c in PAPER_CONFIGS}
    for method in ('baseline', 'eql', 'droploss'):
        for cfg in ('mask_rcnn_r50_lvis', 'mask_rcnn_r101_lvis', 'cascade_mask_rcnn_r50_lvis',
                    'cascade_mask_rcnn_r101_lvis', 'mask_rcnn_r50_lvis_rfs',
                    'mask_rcnn_r50_lvis_v1', 'mask_rcnn_r50_lvis_v1_rfs'):
            assert f'{method}/{cfg}.py' in names
    assert {'softmax/mask_rcnn_r50_lvis.py', 'softmax/mask_rcnn_r50_lvis_rfs.py',
            'beql/mask_rcnn_r50_lvis_b4.py', 'beql/mask_rcnn_r50_lvis_b5.py',
            'droploss/mask_rcnn_r50_lvis_eq7.py'} <= names
    assert sum(n.startswith('fixed_ratio/') for n in names) >= 3
    for method in ('eqlv2', 'federated', 'seesaw'):  # the baselines of later papers
        for cfg in ('mask_rcnn_r50_lvis', 'mask_rcnn_r50_lvis_rfs', 'mask_rcnn_r50_lvis_v1',
                    'mask_rcnn_r50_lvis_v1_rfs'):
            assert f'{method}/{cfg}.py' in names
    for method in ('ecm', 'gol'):  # issue 20: LVIS v1 only
        for cfg in ('mask_rcnn_r50_lvis_v1', 'mask_rcnn_r50_lvis_v1_rfs'):
            assert f'{method}/{cfg}.py' in names


@pytest.mark.parametrize('config', CONFIGS)
def test_every_config_imports_the_package_and_checks_categories(config):
    cfg = Config.fromfile(str(ROOT / config))
    assert 'mmdet_droploss' in cfg.custom_imports['imports']
    assert cfg.custom_imports['allow_failed_imports'] is False
    assert dict(type='CheckCategoriesHook') in cfg.custom_hooks
    assert cfg.val_evaluator.type == 'FastLVISMetric'
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    for head in stages(cfg):
        assert head.num_classes == cfg.model.roi_head.mask_head.num_classes


@pytest.mark.parametrize('config', PAPER_CONFIGS)
def test_paper_recipe(config):
    cfg = Config.fromfile(str(ROOT / config))
    exp = expected(config)
    # loss, per stage
    heads = stages(cfg)
    assert len(heads) == exp['stages']
    for head in heads:
        assert head.num_classes == exp['num_classes']
        loss = head.loss_cls
        assert loss.type == exp['loss']
        if loss.type in ('EQL', 'BEQL', 'DropLoss', 'EQLv2', 'FederatedLoss', 'ECM'):
            assert loss.num_classes == exp['num_classes']
            assert loss.categories == exp['categories']
            assert loss.get('tail_groups', ('r', 'c')) == ('r', 'c')
        elif loss.type == 'CrossEntropyCustomLoss':
            assert loss.use_sigmoid and loss.num_classes == exp['num_classes']
        elif loss.type == 'SeesawLoss':  # mmdet's configs/seesaw_loss/ settings
            assert (loss.p, loss.q, loss.num_classes) == (0.8, 2.0, exp['num_classes'])
            assert head.cls_predictor_cfg == dict(type='NormedLinear', tempearture=20)
            assert loss.use_sigmoid is False
        else:
            assert loss.use_sigmoid is False
        for key, value in exp['extra'].items():
            assert loss[key] == value
        for key in ('drop_ratio', 'drop_frequent', 'log_base'):
            if key not in exp['extra'] and loss.type != 'BEQL':
                assert key not in loss, f'{key} leaked into {config}'
    assert cfg.model.backbone.depth == exp['depth']
    assert cfg.model.backbone.init_cfg.checkpoint == f"torchvision://resnet{exp['depth']}"
    # data: LVIS version, RFS at the released code's threshold
    dataset = cfg.train_dataloader.dataset
    if exp['rfs']:
        assert dataset.type == 'ClassBalancedDataset' and dataset.oversample_thr == 0.0005
        dataset = dataset.dataset
    assert dataset.type == exp['dataset']
    version = 'v1' if exp['num_classes'] == 1203 else 'v0.5'
    assert dataset.ann_file == f'annotations/lvis_{version}_train.json'
    assert cfg.val_dataloader.dataset.type == exp['dataset']
    assert cfg.val_evaluator.ann_file.endswith(f'lvis_{version}_val.json')
    resize = next(t for t in dataset.pipeline if t.type == 'RandomChoiceResize')
    assert resize.scales == [(1333, s) for s in (640, 672, 704, 736, 768, 800)]
    # schedule: batch 16 = 8 x 2, lr 0.02, 90k iterations, steps at 60k and 80k
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == 90000
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
        'SGD', 0.02, 0.9, 0.0001)
    steps = next(s for s in cfg.param_scheduler if s.type == 'MultiStepLR')
    assert steps.milestones == [60000, 80000] and steps.gamma == 0.1 and not steps.by_epoch
    # sampling and test settings
    assert cfg.model.train_cfg.rpn.sampler.num == 256
    assert cfg.model.train_cfg.rpn.sampler.pos_fraction == 0.5
    rcnn = cfg.model.train_cfg.rcnn
    rcnn = rcnn if isinstance(rcnn, list) else [rcnn]
    assert len(rcnn) == exp['stages']
    for stage_cfg in rcnn:
        assert stage_cfg.sampler.num == 512 and stage_cfg.sampler.pos_fraction == 0.25
    assert cfg.model.test_cfg.rcnn.score_thr == 0.0001
    assert cfg.model.test_cfg.rcnn.max_per_img == 300


# Each distinct model structure is built once; every config maps to one of them.
def structure_key(config: str):
    cfg = Config.fromfile(str(ROOT / config))
    loss = stages(cfg)[0].loss_cls
    return (cfg.model.type, cfg.model.backbone.depth, stages(cfg)[0].num_classes, loss.type,
            tuple(sorted((k, str(v)) for k, v in loss.items())))


STRUCTURES = {}
for _config in CONFIGS:
    STRUCTURES.setdefault(structure_key(_config), _config)


@pytest.mark.parametrize('config', sorted(STRUCTURES.values()))
def test_model_builds_on_cpu_with_the_paper_head(config):
    cfg = Config.fromfile(str(ROOT / config))
    cfg.model.backbone.init_cfg = None  # no pretrained download
    model = MODELS.build(cfg.model)
    for head in (model.roi_head.bbox_head if hasattr(model.roi_head, 'num_stages') and
                 isinstance(model.roi_head.bbox_head, torch.nn.ModuleList)
                 else [model.roi_head.bbox_head]):
        num_classes = head.num_classes
        channels = (head.loss_cls.get_cls_channels(num_classes) if head.custom_cls_channels
                    else num_classes + 1)
        assert head.fc_cls.out_features == channels
        if type(head.loss_cls).__name__ in ('EQLv2', 'ECM'):
            assert channels == num_classes + 1  # C classes and objectness
        elif type(head.loss_cls).__name__ == 'SeesawLoss':
            assert channels == num_classes + 2  # C classes, background and objectness
        elif head.custom_cls_channels:
            assert channels == num_classes  # C sigmoid logits, no background
        # Mask R-CNN: class-specific regression over every class (the released code skips the
        # last one); Cascade R-CNN regresses class-agnostically, as mmdet and detectron2 do.
        cascade = len(model.roi_head.bbox_head) == 3 if isinstance(
            model.roi_head.bbox_head, torch.nn.ModuleList) else False
        assert head.reg_class_agnostic == cascade
        assert head.fc_reg.out_features == (4 if cascade else 4 * num_classes)
        head.init_weights()
        folder, stem = Path(config).parent.name, Path(config).stem
        # mask_rcnn_tiny_X_demo, mask_rcnn_tiny_X_bench
        method = stem.split('_')[3] if folder in ('demo', 'benchmark') else folder
        method = 'gol' if stem.endswith('_gumbel_bench') else method
        prior = PRIOR_OF_FOLDER.get(method, 0.001)
        if prior is not None:
            prior = -math.log((1 - prior) / prior)
            assert torch.allclose(head.fc_cls.bias, torch.full_like(head.fc_cls.bias, prior))
        else:
            assert torch.count_nonzero(head.fc_cls.bias) == 0
