"""torch.load(weights_only=True) vs MMEngine checkpoints (mmdet_droploss.compat.checkpoint).

The checkpoint under test is written by MMEngine's own Runner (a toy model trained for a few
iterations, with two parameter schedulers): its message hub holds HistoryBuffers over numpy
arrays and numpy scalars. Unsafe checkpoints carry a payload that would create a marker file when
unpickled: the marker tells whether any code ran.
"""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from http_servers import serve_directory
from mmdet_droploss.compat import checkpoint as compat
from mmdet_droploss.compat.checkpoint import (ALLOW_UNSAFE_ENV, UnsafeCheckpointError,
                                              allow_unsafe_load, load_checkpoint_file)


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs).squeeze(-1)
        return dict(loss=((out - labels) ** 2).mean()) if mode == 'loss' else out


class ToyData(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, idx):
        return dict(inputs=torch.tensor([idx, 1.0]), labels=torch.tensor(idx / 8))


def toy_runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), log_level='WARNING',
        train_dataloader=dict(dataset=ToyData(), batch_size=2, sampler=dict(
            type='DefaultSampler', shuffle=False), collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=2),
                         dict(type='MultiStepLR', milestones=[3], by_epoch=False)],
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False)),
        randomness=dict(seed=0), **kwargs)


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work = tmp_path_factory.mktemp('toy')
    toy_runner(work, max_iters=4).train()
    return str(work / 'iter_4.pth')


def _touch(path):
    open(path, 'w').close()
    return 'ran'


class Payload:
    """Unpickling this runs ``_touch(marker)``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_touch, (self.marker,))


@pytest.fixture
def unsafe_checkpoint(tmp_path):
    marker = tmp_path / 'code-ran'
    path = tmp_path / 'unsafe.pth'
    torch.save(dict(state_dict={'w': torch.ones(2)}, meta=dict(extra=Payload(str(marker)))), path)
    return str(path), marker


def test_runner_checkpoint_loads_with_weights_only(runner_checkpoint):
    assert torch.serialization.get_unsafe_globals_in_checkpoint(runner_checkpoint) == []
    safe = torch.load(runner_checkpoint, weights_only=True)
    full = torch.load(runner_checkpoint, weights_only=False)  # our own file: reference load
    for key, buffer in full['message_hub']['log_scalars'].items():
        restored = safe['message_hub']['log_scalars'][key]
        assert isinstance(restored, HistoryBuffer)
        for a, b in zip(restored.data, buffer.data):
            np.testing.assert_array_equal(a, b)
        assert restored.mean() == buffer.mean() and restored.current() == buffer.current()
    assert safe['message_hub']['runtime_info'] == full['message_hub']['runtime_info']
    assert isinstance(safe['message_hub']['runtime_info']['eta'], np.floating)
    assert safe['param_schedulers'] == full['param_schedulers']
    for key, value in full['state_dict'].items():
        assert torch.equal(safe['state_dict'][key], value)


def test_resume_through_mmengine_runner(runner_checkpoint, tmp_path):
    runner = toy_runner(tmp_path, max_iters=6, load_from=runner_checkpoint, resume=True)
    runner.train()
    assert runner.iter == 6
    assert runner.message_hub.get_scalar('train/loss').data[0].shape == (6,)  # 4 resumed + 2


def test_allowlist_has_no_general_getattr():
    """``getattr`` resolves only HistoryBuffer's statistics, nothing else."""
    allowed = dict(item if isinstance(item, tuple) else (item, None)
                   for item in compat.MMENGINE_SAFE_GLOBALS)
    stand_in = next(f for f, name in allowed.items() if name == 'builtins.getattr')
    assert stand_in is not getattr
    assert stand_in(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='not allowed'):
        stand_in(HistoryBuffer, 'update')
    with pytest.raises(pickle.UnpicklingError, match='not allowed'):
        stand_in(os, 'system')


def test_getattr_payload_is_refused(tmp_path):
    class Sneaky:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': Sneaky()}, path)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint_file(str(path))


def test_numpy1_checkpoints_load(runner_checkpoint, tmp_path):
    """Files written under numpy 1.x name numpy.core.multiarray, not numpy._core."""
    full = torch.load(runner_checkpoint, weights_only=False)
    legacy = tmp_path / 'legacy.pth'
    torch.save(full['message_hub'], legacy, _use_new_zipfile_serialization=False)
    raw = legacy.read_bytes()
    assert b'cnumpy._core.multiarray\n' in raw
    legacy.write_bytes(raw.replace(b'cnumpy._core.multiarray\n', b'cnumpy.core.multiarray\n'))
    hub = load_checkpoint_file(str(legacy))
    np.testing.assert_array_equal(hub['log_scalars']['train/lr'].data[0],
                                  full['message_hub']['log_scalars']['train/lr'].data[0])


def test_unsafe_checkpoint_refused_without_running_code(unsafe_checkpoint):
    path, marker = unsafe_checkpoint
    with pytest.raises(UnsafeCheckpointError) as info:
        _load_checkpoint(path)  # MMEngine's entry point for load_from / resume / Pretrained
    message = str(info.value)
    assert 'test_checkpoint_compat._touch' in message and f'{ALLOW_UNSAFE_ENV}=1' in message
    assert not marker.exists()


def test_opt_in_env_var_and_api_flag(unsafe_checkpoint, monkeypatch):
    path, marker = unsafe_checkpoint
    monkeypatch.setenv(ALLOW_UNSAFE_ENV, '1')
    with pytest.raises(UnsafeCheckpointError):  # an explicit False wins over the environment
        load_checkpoint_file(path, allow_unsafe=False)
    assert not marker.exists()
    with pytest.warns(UserWarning, match='weights_only=False'):
        ckpt = _load_checkpoint(path)
    assert ckpt['meta']['extra'] == 'ran' and marker.exists()
    marker.unlink()
    monkeypatch.delenv(ALLOW_UNSAFE_ENV)
    with allow_unsafe_load(), pytest.warns(UserWarning):
        assert _load_checkpoint(path)['meta']['extra'] == 'ran'
    marker.unlink()
    with pytest.warns(UserWarning):
        assert load_checkpoint_file(path, allow_unsafe=True)['meta']['extra'] == 'ran'
    with pytest.raises(UnsafeCheckpointError):  # the context does not leak
        load_checkpoint_file(path)


def test_http_checkpoints_load_weights_only(unsafe_checkpoint, runner_checkpoint, tmp_path,
                                            monkeypatch):
    """MMEngine's http loader used weights_only=False; it now goes through the same check."""
    path, marker = unsafe_checkpoint
    serve_dir = os.path.dirname(path)
    os.link(runner_checkpoint, os.path.join(serve_dir, 'runner.pth'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    with serve_directory(serve_dir) as url:
        assert _load_checkpoint(f'{url}/runner.pth')['meta']['iter'] == 4
        with pytest.raises(UnsafeCheckpointError):
            _load_checkpoint(f'{url}/unsafe.pth')
        assert not marker.exists()


def test_apply_is_idempotent_and_covers_indirect_loaders():
    before = list(torch.serialization.get_safe_globals())
    compat.apply()
    compat._applied = False  # force the registration to run again
    compat.apply()
    assert sorted(map(str, torch.serialization.get_safe_globals())) == sorted(map(str, before))
    assert CheckpointLoader._get_checkpoint_loader('/some/file.pth') is compat.load_from_local
    assert CheckpointLoader._get_checkpoint_loader('https://x/y.pth') is compat.load_from_http
    # torchvision:// and open-mmlab:// names call these module globals.
    assert mmengine_checkpoint.load_from_http is compat.load_from_http
    assert mmengine_checkpoint.load_from_local is compat.load_from_local
