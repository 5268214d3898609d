"""Model zoo: index, verified downloads, load by name -- against a local HTTP server.

A tiny MMDetection Mask R-CNN is trained for two iterations with MMEngine's Runner, which saves a
real checkpoint (message hub with HistoryBuffers: it needs the compat allowlist). A local HTTP
server serves it, with switches to corrupt, truncate or ignore ranges (tests/http_servers.py).
Every test uses a temporary index and cache (environment variables); nothing touches the
network. The index entries that are mmdet's published models: tests/test_published_zoo.py.
"""
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint
from mmdet.apis import inference_detector
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules

from conftest import free_port
from http_servers import serve_files
import mmdet_droploss  # noqa: F401  (registers zoo://, applies the checkpoint compat)
from mmdet_droploss.model_zoo import (CACHE_ENV, INDEX_ENV, OFFLINE_ENV, ChecksumMismatchError,
                                      DownloadError, DownloadInterruptedError, ZooIndexError,
                                      download_checkpoint, init_detector_by_name, load_index,
                                      resolve_checkpoint, sha256sum)

register_all_modules()
ROOT = Path(__file__).resolve().parents[1]
CLASSES = ('cat', 'dog', 'hat')
TINY_CONFIG = """
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes=3),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16, num_classes=3)),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100),
                  rcnn=dict(score_thr=0.0, max_per_img=20)))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor'))]))
"""


class DemoDataset(torch.utils.data.Dataset):
    metainfo = dict(classes=CLASSES)

    def __init__(self):
        np.random.seed(0)
        packed = demo_mm_inputs(batch_size=4, image_shapes=[(3, 64, 64)] * 4, num_items=[2] * 4,
                                num_classes=len(CLASSES), with_mask=True)
        self.items = [dict(inputs=i, data_samples=s)
                      for i, s in zip(packed['inputs'], packed['data_samples'])]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def make_runner(cfg: Config, work_dir, max_iters, **kwargs) -> Runner:
    return Runner(
        model=cfg.model, work_dir=str(work_dir), default_scope='mmdet', log_level='WARNING',
        train_dataloader=dict(dataset=DemoDataset(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        randomness=dict(seed=0), **kwargs)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """(config path, checkpoint bytes, predictions of the trained model on IMAGE)."""
    tmp = tmp_path_factory.mktemp('trained')
    config = tmp / 'tiny_mask_rcnn.py'
    config.write_text(TINY_CONFIG)
    cfg = Config.fromfile(str(config))
    runner = make_runner(cfg, tmp / 'work', max_iters=2)
    runner.train()
    model = runner.model.eval()
    model.cfg = cfg
    reference = inference_detector(model, image())
    return str(config), (tmp / 'work' / 'iter_2.pth').read_bytes(), reference


def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 255, (80, 96, 3), dtype=np.uint8)


@pytest.fixture
def server():
    with serve_files() as srv:
        yield srv


@pytest.fixture
def zoo(tmp_path, monkeypatch, trained, server):
    """A one-model index served by ``server``; returns a namespace of what the tests need."""
    config, data, reference = trained
    sha = hashlib.sha256(data).hexdigest()
    file_name = f'tiny_mask_rcnn-{sha[:8]}.pth'  # OpenMMLab's publish_model naming
    server.files['/' + file_name] = data
    index = tmp_path / 'index'
    write_metafile(index / 'tiny' / 'metafile.yml', [dict(
        Name='tiny-mask-rcnn', Config=config, Weights=f'{server.url}/{file_name}',
        Results=[dict(Task='Instance Segmentation', Dataset='Demo', Metrics={'mask AP': 1.0})])])
    cache = tmp_path / 'cache'
    monkeypatch.setenv(INDEX_ENV, str(index))
    monkeypatch.setenv(CACHE_ENV, str(cache))
    monkeypatch.delenv(OFFLINE_ENV, raising=False)

    class Zoo:
        pass
    z = Zoo()
    z.name, z.data, z.sha, z.cache, z.index, z.server = 'tiny-mask-rcnn', data, sha, cache, index, server
    z.target, z.url, z.config, z.reference = cache / file_name, f'{server.url}/{file_name}', config, reference
    return z


def write_metafile(path: Path, models) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(Models=models), sort_keys=False))


def cache_files(cache: Path):
    return sorted(p.name for p in cache.glob('*') if p.is_file()) if cache.exists() else []


def test_download_by_name_verifies_loads_and_predicts(zoo):
    path = download_checkpoint(zoo.name, progress=False)
    assert path == zoo.target and path.read_bytes() == zoo.data and sha256sum(path) == zoo.sha
    assert cache_files(zoo.cache) == [zoo.target.name]
    model = init_detector_by_name(zoo.name)  # zoo://, weights_only load, dataset_meta
    assert model.dataset_meta['classes'] == CLASSES
    result, ref = inference_detector(model, image()), zoo.reference
    assert len(ref.pred_instances) > 0
    torch.testing.assert_close(result.pred_instances.bboxes, ref.pred_instances.bboxes)
    torch.testing.assert_close(result.pred_instances.scores, ref.pred_instances.scores)
    assert torch.equal(result.pred_instances.labels, ref.pred_instances.labels)
    assert len(zoo.server.requests) == 1  # the second use came from the cache


def test_resolve_checkpoint_accepts_names_paths_and_urls(zoo, tmp_path):
    assert resolve_checkpoint(zoo.name) == str(zoo.target)
    assert resolve_checkpoint('zoo://' + zoo.name) == str(zoo.target)
    assert resolve_checkpoint(zoo.url) == str(zoo.target)  # a zoo URL is verified like its entry
    other = zoo.server.url + '/elsewhere.pth'
    assert resolve_checkpoint(other) == other
    assert resolve_checkpoint(str(zoo.target)) == str(zoo.target)
    with pytest.raises(ZooIndexError, match=r"neither an existing file.*Did you mean 'tiny-mask-rcnn'"):
        resolve_checkpoint('tiny-mask-rnn')


def test_load_from_zoo_scheme_and_resume_in_a_runner(zoo, tmp_path):
    cfg = Config.fromfile(zoo.config)
    model = MODELS.build(cfg.model)
    ckpt = load_checkpoint(model, 'zoo://' + zoo.name, map_location='cpu')
    assert ckpt['meta']['iter'] == 2
    runner = make_runner(cfg, tmp_path / 'resume', max_iters=3, load_from='zoo://' + zoo.name,
                         resume=True)
    runner.train()  # resumes at iteration 2 (message hub restored), trains one more
    assert runner.iter == 3
    assert runner.message_hub.get_scalar('train/loss').data[0].shape == (3,)


def test_offline_use_from_cache(zoo):
    download_checkpoint(zoo.name, progress=False)
    zoo.server.files.clear()  # the server no longer has it
    assert download_checkpoint(zoo.name, offline=True) == zoo.target
    assert download_checkpoint(zoo.name) == zoo.target  # verified cache: no request made
    assert len(zoo.server.requests) == 1
    zoo.target.write_bytes(b'rotten' + zoo.data[6:])
    with pytest.raises(DownloadError, match='was corrupt.*removed.*offline'):
        download_checkpoint(zoo.name, offline=True)
    assert cache_files(zoo.cache) == []


def test_corrupt_cached_file_is_replaced(zoo):
    download_checkpoint(zoo.name, progress=False)
    zoo.target.write_bytes(zoo.data[:-10])
    assert download_checkpoint(zoo.name, progress=False).read_bytes() == zoo.data
    assert len(zoo.server.requests) == 2


def test_corrupted_transfer_is_refused_and_removed(zoo):
    zoo.server.corrupt = True
    with pytest.raises(ChecksumMismatchError, match=f'expected {zoo.sha[:8]}.*deleted'):
        download_checkpoint(zoo.name, progress=False)
    assert cache_files(zoo.cache) == []


def test_wrong_hash_is_refused_and_removed(zoo):
    wrong = '0' * 64
    zoo.server.files['/plain.pth'] = zoo.data
    write_metafile(zoo.index / 'tiny' / 'metafile.yml', [dict(
        Name='plain', Weights=zoo.server.url + '/plain.pth', **{'Weights SHA256': wrong})])
    with pytest.raises(ChecksumMismatchError, match=f'expected {wrong}.*got {zoo.sha}'):
        download_checkpoint('plain', progress=False)
    assert cache_files(zoo.cache) == []


def test_full_declared_hash_is_checked(zoo):
    zoo.server.files['/plain.pth'] = zoo.data
    write_metafile(zoo.index / 'tiny' / 'metafile.yml', [dict(
        Name='plain', Weights=zoo.server.url + '/plain.pth', **{'Weights SHA256': zoo.sha})])
    assert sha256sum(download_checkpoint('plain', progress=False)) == zoo.sha


def test_interrupted_transfer_resumes(zoo):
    cut = len(zoo.data) * 2 // 5
    zoo.server.cut_after = cut
    with pytest.raises(DownloadInterruptedError, match='run the same command again to resume'):
        download_checkpoint(zoo.name, progress=False)
    part = zoo.target.with_name(zoo.target.name + '.part')
    assert not zoo.target.exists() and part.stat().st_size == cut
    assert download_checkpoint(zoo.name, progress=False).read_bytes() == zoo.data
    assert zoo.server.requests[-1][1] == f'bytes={cut}-'  # only the rest was requested
    assert cache_files(zoo.cache) == [zoo.target.name]


def test_interrupted_transfer_restarts_when_server_ignores_ranges(zoo):
    zoo.server.cut_after, zoo.server.ranges = len(zoo.data) // 3, False
    with pytest.raises(DownloadInterruptedError):
        download_checkpoint(zoo.name, progress=False)
    assert download_checkpoint(zoo.name, progress=False).read_bytes() == zoo.data
    assert cache_files(zoo.cache) == [zoo.target.name]


def test_unreachable_host_and_http_errors(zoo):
    port = free_port()  # nothing listens on it
    write_metafile(zoo.index / 'tiny' / 'metafile.yml', [
        dict(Name='gone', Weights=f'http://127.0.0.1:{port}/gone-{zoo.sha[:8]}.pth'),
        dict(Name='missing', Weights=f'{zoo.server.url}/missing-{zoo.sha[:8]}.pth')])
    with pytest.raises(DownloadError, match='Could not reach .*offline, put the verified file'):
        download_checkpoint('gone', progress=False)
    with pytest.raises(DownloadError, match='HTTP 404'):
        download_checkpoint('missing', progress=False)
    assert cache_files(zoo.cache) == []


def test_index_errors_are_clear(tmp_path):
    meta = tmp_path / 'a' / 'metafile.yml'
    write_metafile(meta, [dict(Name='nohash', Weights='https://example.org/model.pth')])
    with pytest.raises(ZooIndexError, match="no hash.*Weights SHA256"):
        load_index([meta])
    write_metafile(meta, [dict(Name='x', Weights='https://e.org/m-0123abcd.pth',
                               **{'Weights SHA256': 'ffffffff'})])
    with pytest.raises(ZooIndexError, match='contradicts the hash 0123abcd'):
        load_index([meta])
    write_metafile(meta, [dict(Name='x', Weights='https://e.org/m-0123abcd.pth')])
    with pytest.raises(ZooIndexError, match="'x' is defined twice"):
        load_index([meta, meta])


def test_cli_lists_and_downloads(zoo, capsys):
    spec = importlib.util.spec_from_file_location('download_checkpoint',
                                                  ROOT / 'tools' / 'download_checkpoint.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(['--list']) == 0
    assert 'tiny-mask-rcnn' in capsys.readouterr().out
    assert tool.main([zoo.name, '--no-progress']) == 0
    assert f'{zoo.target} (sha256 verified' in capsys.readouterr().out
    assert tool.main(['nope']) == 1
    assert "No model named 'nope'" in capsys.readouterr().err
