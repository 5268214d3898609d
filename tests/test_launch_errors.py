"""Clear errors from the launch tools: missing data, typo'd types, mismatched categories."""
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from conftest import DEMO_CONFIG, REPO_ROOT, demo_env
from mmdet_droploss.cli import check_model_types, missing_dataset_paths
from mmdet_droploss.datasets import SyntheticLVISSpec, generate_synthetic_lvis
from mmdet_droploss.hooks import CategoryMismatchError, CheckCategoriesHook

SIX_CLASSES = SyntheticLVISSpec(num_train_images=40, num_val_images=8,
                                train_image_counts=(30, 14, 12, 6, 2, 1), image_size=96)


def _train(args, env=None):
    return subprocess.run([sys.executable, 'tools/train.py', str(DEMO_CONFIG), *map(str, args)],
                          cwd=REPO_ROOT, env=env, timeout=300, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture(scope='module')
def six_class_data(tmp_path_factory):
    return generate_synthetic_lvis(str(tmp_path_factory.mktemp('six')), SIX_CLASSES)


def test_missing_dataset_path_stops_with_the_key_and_the_fix(tmp_path):
    proc = _train(['--work-dir', tmp_path / 'w'], env=demo_env(tmp_path / 'nowhere'))
    assert proc.returncode != 0
    assert 'train_dataloader.dataset.ann_file' in proc.stdout
    assert str(tmp_path / 'nowhere') in proc.stdout
    assert 'generate_demo_dataset.py' in proc.stdout
    assert 'Traceback' not in proc.stdout
    assert not (tmp_path / 'w').exists() or not any((tmp_path / 'w').glob('*.pth'))


def test_missing_paths_are_found_through_dataset_wrappers(tmp_path):
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='ClassBalancedDataset', oversample_thr=0.0005,
        dataset=dict(type='LVISV1Dataset', data_root=str(tmp_path), ann_file='a.json',
                     data_prefix=dict(img='')))),
        val_dataloader=dict(dataset=dict(type='LVISV1Dataset', data_root=str(tmp_path),
                                         ann_file='b.json', data_prefix=dict(img='val/')))))
    (tmp_path / 'a.json').write_text('{}')
    problems = missing_dataset_paths(cfg, ['train_dataloader', 'val_dataloader'])
    assert problems == [f'val_dataloader.dataset.ann_file: {tmp_path}/b.json',
                        f'val_dataloader.dataset.data_prefix.img: {tmp_path}/val/']


def test_typo_in_loss_type_is_named_with_a_suggestion(tmp_path, demo_data):
    proc = _train(['--work-dir', tmp_path / 'w', '--cfg-options',
                   'model.roi_head.bbox_head.loss_cls.type=DropLos'],
                  env=demo_env(demo_data['root']))
    assert proc.returncode != 0
    assert "model.roi_head.bbox_head.loss_cls.type='DropLos'" in proc.stdout
    assert "Did you mean 'DropLoss'" in proc.stdout
    assert 'Traceback' not in proc.stdout


def test_model_type_check_covers_cascade_stages_and_passes_valid_configs():
    cfg = Config.fromfile(str(DEMO_CONFIG))
    check_model_types(cfg)  # the shipped config is valid
    cfg.model.roi_head.bbox_head = [dict(type='Shared2FCBBoxHead',
                                         loss_cls=dict(type='EQLoss'))] * 2
    with pytest.raises(KeyError, match=r"bbox_head\.1\.loss_cls\.type='EQLoss'.*EQL"):
        check_model_types(cfg)


def test_annotation_categories_that_disagree_with_the_loss_stop_training(
        tmp_path, demo_data, six_class_data):
    proc = _train(['--work-dir', tmp_path / 'w', '--cfg-options',
                   f"train_dataloader.dataset.ann_file={six_class_data['train_ann']}",
                   f"train_dataloader.dataset.data_prefix.img={six_class_data['train_images']}",
                   'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None'],
                  env=demo_env(demo_data['root']))
    assert proc.returncode != 0, proc.stdout[-3000:]
    out = proc.stdout
    assert 'Dataset and model categories do not match' in out
    assert 'has 6 categories but the dataset metainfo lists 20 class names' in out
    assert 'model.roi_head.bbox_head (Shared2FCBBoxHead) has num_classes=20' in out
    assert 'Traceback' not in out
    assert not list((tmp_path / 'w').glob('*.pth'))


def test_hook_detects_same_count_but_different_category_ids(tmp_path, demo_data):
    """A 20-category annotation file whose ids differ from the loss's metadata."""
    from mmdet.registry import DATASETS, MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(DEMO_CONFIG))
    cfg.model.roi_head.bbox_head.loss_cls.categories = demo_data['train_ann']
    model = MODELS.build(cfg.model)
    with open(demo_data['train_ann']) as f:
        ann = json.load(f)
    for cat in ann['categories']:
        cat['id'] += 100
    for a in ann['annotations']:
        a['category_id'] += 100
    shifted = tmp_path / 'shifted.json'
    shifted.write_text(json.dumps(ann))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root='', ann_file=demo_data['train_ann'],
                       data_prefix=dict(img=demo_data['train_images']))

    def runner_for(ann_file):
        dataset_cfg.ann_file = ann_file
        loader = SimpleNamespace(dataset=DATASETS.build(dataset_cfg))
        return SimpleNamespace(model=model, train_dataloader=loader)

    hook = CheckCategoriesHook()
    hook.before_train(runner_for(demo_data['train_ann']))  # consistent: no error
    with pytest.raises(CategoryMismatchError, match='describes category ids that differ'):
        hook.before_train(runner_for(str(shifted)))


def _train_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('train_tool', REPO_ROOT / 'tools/train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_flags_set_the_config_as_mmdet_does(tmp_path):
    tool = _train_tool()
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/droploss/mask_rcnn_r50_lvis.py'))
    args = tool.parse_args([str(DEMO_CONFIG), '--auto-scale-lr', '--resume'])
    tool.configure(cfg, args)
    assert cfg.auto_scale_lr.enable and cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.resume is True and cfg.load_from is None  # latest checkpoint of the work dir
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    args = tool.parse_args([str(DEMO_CONFIG), '--resume', str(ckpt)])
    tool.configure(cfg, args)
    assert cfg.resume is True and cfg.load_from == str(ckpt)


@pytest.mark.skipif(__import__('torch').cuda.is_available(), reason='CPU-only behaviour')
def test_amp_without_a_gpu_is_refused_with_the_reason():
    tool = _train_tool()
    cfg = Config.fromfile(str(DEMO_CONFIG))
    with pytest.raises(SystemExit, match='--amp needs a CUDA GPU'):
        tool.configure(cfg, tool.parse_args([str(DEMO_CONFIG), '--amp']))
