"""The model-zoo entries that are mmdet's own published models (the LVIS Mask R-CNN baselines
and the Seesaw Mask R-CNN R50 models): the same URLs, hashes, configs and numbers as mmdet's
metafiles, and the Seesaw checkpoints fit our configs."""
import re
from pathlib import Path

import yaml
from mmengine.utils import get_installed_path

from mmdet_droploss.model_zoo import load_index

ROOT = Path(__file__).resolve().parents[1]


def assert_published_by_mmdet(index: dict, mmdet_folder: str) -> None:
    """Every entry of ``index`` is the model of that name in mmdet's
    ``configs/<mmdet_folder>/metafile.yml``, and the default index includes them."""
    meta = Path(get_installed_path('mmdet')) / '.mim' / 'configs' / mmdet_folder / 'metafile.yml'
    published = {m['Name']: m for m in yaml.safe_load(meta.read_text())['Models']}
    for name, entry in index.items():
        theirs = published[name]
        assert entry.weights == theirs['Weights']
        assert entry.sha256 == re.search(r'-([0-9a-f]{8})\.pth$', theirs['Weights'])[1]
        assert entry.config_path == meta.parent.parent / theirs['Config'][len('configs/'):]
        assert entry.config_path.is_file()
        assert entry.metrics() == {f"{r['Dataset']}/{k}": v for r in theirs['Results']
                                   for k, v in r['Metrics'].items()}
    assert set(load_index()) >= set(index)


def test_baseline_entries_match_mmdet_published_models():
    """Our baseline entries are mmdet's LVIS Mask R-CNNs."""
    index = load_index([ROOT / 'configs' / 'baseline' / 'metafile.yml'])
    assert sorted(index) == sorted([
        'mask-rcnn_r50_fpn_sample1e-3_ms-2x_lvis-v0.5', 'mask-rcnn_r101_fpn_sample1e-3_ms-2x_lvis-v0.5',
        'mask-rcnn_r50_fpn_sample1e-3_ms-1x_lvis-v1', 'mask-rcnn_r101_fpn_sample1e-3_ms-1x_lvis-v1'])
    assert_published_by_mmdet(index, 'lvis')


def test_seesaw_entries_match_mmdet_published_models():
    index = load_index([ROOT / 'configs' / 'seesaw' / 'metafile.yml'])
    assert sorted(index) == sorted(['mask-rcnn_r50_fpn_random_seesaw_loss_mstrain_2x_lvis_v1',
                                    'mask-rcnn_r50_fpn_sample1e-3_seesaw_loss_mstrain_2x_lvis_v1'])
    assert_published_by_mmdet(index, 'seesaw_loss')
    # the Seesaw rows of the later baselines' published numbers (docs/experiments.md, moved there
    # from the README) quote these numbers
    doc = (ROOT / 'docs' / 'experiments.md').read_text()
    assert 'box AP 25.6, mask AP 25.0' in doc and 'box AP 27.6, mask AP 26.4' in doc


def test_seesaw_checkpoints_fit_our_v1_configs():
    """Our seesaw/ v1 configs build the same network as mmdet's (same parameter and buffer
    names and shapes), so the published weights load into them for evaluation."""
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    import mmdet_droploss  # noqa: F401
    register_all_modules()
    index = load_index([ROOT / 'configs' / 'seesaw' / 'metafile.yml'])
    entry = index['mask-rcnn_r50_fpn_random_seesaw_loss_mstrain_2x_lvis_v1']

    def shapes(config):
        cfg = Config.fromfile(str(config))
        cfg.model.backbone.init_cfg = None
        return {k: tuple(v.shape) for k, v in MODELS.build(cfg.model).state_dict().items()}

    assert shapes(ROOT / 'configs/seesaw/mask_rcnn_r50_lvis_v1.py') == shapes(entry.config_path)
