"""The data-directory variables of the configs (``MMDET_DROPLOSS_DEMO_DATA``,
``MMDET_DROPLOSS_BENCH_DATA``) name a folder with or without its trailing slash: every path the
configs derive from it is joined as a path."""
import os

import pytest
from mmengine.config import Config

from conftest import REPO_ROOT
from mmdet_droploss.cli import missing_dataset_paths

SETS = {
    'demo': ('MMDET_DROPLOSS_DEMO_DATA', 'configs/demo/mask_rcnn_tiny_droploss_demo.py',
             'lvis_demo'),
    'benchmark': ('MMDET_DROPLOSS_BENCH_DATA', 'configs/benchmark/mask_rcnn_tiny_droploss_bench.py',
                  'lvis_bench'),
}


def derived_paths(cfg: Config) -> dict:
    """Every path the config derives from its data directory."""
    return dict(train_root=cfg.train_dataloader.dataset.data_root,
                val_root=cfg.val_dataloader.dataset.data_root,
                evaluator=cfg.val_evaluator.ann_file,
                categories=cfg.model.roi_head.bbox_head.loss_cls.categories)


@pytest.mark.parametrize('name', SETS)
@pytest.mark.parametrize('slash', ['', '/'])
def test_the_data_directory_is_joined_as_a_path(name, slash, tmp_path, monkeypatch):
    variable, config, prefix = SETS[name]
    root = str(tmp_path / 'data' / 'mine')
    monkeypatch.setenv(variable, root + slash)
    paths = derived_paths(Config.fromfile(str(REPO_ROOT / config)))
    assert paths == dict(train_root=root + os.sep, val_root=root + os.sep,
                         evaluator=f'{root}/annotations/{prefix}_val.json',
                         categories=f'{root}/annotations/{prefix}_train.json')


def test_the_default_data_directory_is_unchanged(monkeypatch):
    monkeypatch.delenv('MMDET_DROPLOSS_DEMO_DATA', raising=False)
    paths = derived_paths(Config.fromfile(str(REPO_ROOT / SETS['demo'][1])))
    assert paths['train_root'] == 'data/demo_lvis/'
    assert paths['categories'] == 'data/demo_lvis/annotations/lvis_demo_train.json'


def test_a_directory_without_slash_finds_the_generated_demo_data(demo_data, monkeypatch):
    monkeypatch.setenv('MMDET_DROPLOSS_DEMO_DATA', demo_data['root'].rstrip('/'))
    cfg = Config.fromfile(str(REPO_ROOT / SETS['demo'][1]))
    assert missing_dataset_paths(cfg, ['train_dataloader', 'val_dataloader']) == []
    assert os.path.isfile(cfg.val_evaluator.ann_file)
    assert os.path.samefile(cfg.val_evaluator.ann_file, demo_data['val_ann'])
