"""Atomic checkpoint writes and a resume that skips broken checkpoints
(mmdet_droploss.compat.checkpoint_files), on files and on MMEngine's Runner with a toy model."""
import os
import signal

import pytest
import torch
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner import runner as mmengine_runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmdet_droploss.compat import checkpoint_files
from mmdet_droploss.compat.checkpoint_files import (CheckpointReadError, atomic_save_checkpoint,
                                                    checkpoint_problem, find_latest_checkpoint)
from test_checkpoint_compat import toy_runner


def _save(path, value=1.0):
    torch.save(dict(meta=dict(iter=value), state_dict={'w': torch.full((4,), value)}), path)
    return str(path)


def _truncate(path, keep=0.5):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])


def test_mmengine_names_are_replaced():
    assert mmengine_runner.save_checkpoint is atomic_save_checkpoint
    assert mmengine_checkpoint.save_checkpoint is atomic_save_checkpoint
    assert mmengine_runner.find_latest_checkpoint is find_latest_checkpoint


def test_problems_are_named(tmp_path):
    good = _save(tmp_path / 'iter_2.pth')
    assert checkpoint_problem(good) is None
    assert checkpoint_problem(str(tmp_path / 'nope.pth')) == 'does not exist'
    _truncate(_save(tmp_path / 'iter_4.pth'))
    assert 'truncated' in checkpoint_problem(str(tmp_path / 'iter_4.pth'))
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert 'empty' in checkpoint_problem(str(tmp_path / 'empty.pth'))
    (tmp_path / 'text.pth').write_text('hello')
    assert 'not a torch checkpoint' in checkpoint_problem(str(tmp_path / 'text.pth'))
    # torch's own reader agrees: the truncated file does not load
    with pytest.raises(RuntimeError):
        torch.load(tmp_path / 'iter_4.pth', weights_only=True)


def test_save_interrupted_by_an_error_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / 'iter_2.pth'
    atomic_save_checkpoint(dict(a=torch.ones(3)), str(path))
    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()

    class Boom(Exception):
        pass

    def failing_save(obj, f):  # writes half a file, then dies, as a kill would
        f.write(b'PK\x03\x04 partial')
        raise Boom

    monkeypatch.setattr(checkpoint_files.torch, 'save', failing_save)
    with pytest.raises(Boom):
        atomic_save_checkpoint(dict(a=torch.zeros(3)), str(path))
    assert torch.equal(torch.load(path, weights_only=True)['a'], torch.ones(3))
    assert sorted(os.listdir(tmp_path)) == ['iter_2.pth']


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_save_killed_midway_never_leaves_a_truncated_final_file(tmp_path):
    """SIGKILL a process while it writes a large checkpoint: the final name never holds a
    partial file, and the next save of that name removes the hidden temporary."""
    import subprocess
    import sys
    import time
    path = tmp_path / 'iter_6.pth'
    code = ('import sys, torch; from mmdet_droploss.compat.checkpoint_files import '
            'atomic_save_checkpoint as s\n'
            'x = torch.zeros(64, 1024, 1024)\n'
            'print("ready", flush=True)\n'
            'for i in range(1000): s(dict(x=x), sys.argv[1])\n')
    proc = subprocess.Popen([sys.executable, '-c', code, str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == 'ready'
        deadline = time.time() + 60
        while not list(tmp_path.glob('.iter_6.pth.*.tmp')) and time.time() < deadline:
            time.sleep(0.01)
        proc.kill()
    finally:
        proc.wait()
    temporaries = list(tmp_path.glob('.iter_6.pth.*.tmp'))
    assert temporaries, 'the process was not killed during a save'
    if path.exists():  # a save before the kill completed: it is whole
        assert checkpoint_problem(str(path)) is None
    atomic_save_checkpoint(dict(y=torch.ones(1)), str(path))
    assert not list(tmp_path.glob('.iter_6.pth.*.tmp'))
    assert torch.equal(torch.load(path, weights_only=True)['y'], torch.ones(1))


def test_auto_resume_skips_a_truncated_latest_checkpoint(tmp_path, caplog):
    good = _save(tmp_path / 'iter_4.pth', 4)
    _save(tmp_path / 'iter_2.pth', 2)
    latest = _save(tmp_path / 'iter_6.pth', 6)
    (tmp_path / 'last_checkpoint').write_text(latest)
    assert find_latest_checkpoint(str(tmp_path)) == latest
    _truncate(latest)
    assert find_latest_checkpoint(str(tmp_path)) == good
    (tmp_path / 'last_checkpoint').write_text('')  # killed while writing last_checkpoint
    assert find_latest_checkpoint(str(tmp_path)) == good
    (tmp_path / 'last_checkpoint').unlink()
    assert find_latest_checkpoint(str(tmp_path)) == good


def test_auto_resume_without_checkpoints_starts_fresh_and_with_only_broken_ones_stops(tmp_path):
    assert find_latest_checkpoint(str(tmp_path)) is None
    latest = _save(tmp_path / 'iter_6.pth')
    _truncate(latest)
    (tmp_path / 'last_checkpoint').write_text(latest)
    with pytest.raises(CheckpointReadError) as info:
        find_latest_checkpoint(str(tmp_path))
    message = str(info.value)
    assert latest in message and 'truncated' in message and 'no complete checkpoint' in message


def test_loading_a_truncated_file_names_it_and_the_newest_good_one(tmp_path):
    good = _save(tmp_path / 'iter_4.pth')
    bad = _save(tmp_path / 'iter_8.pth')
    _truncate(bad)
    with pytest.raises(CheckpointReadError) as info:
        _load_checkpoint(bad)  # MMEngine's entry point for load_from and --resume PATH
    message = str(info.value)
    assert f"'{bad}' is truncated" in message and f'--resume {good}' in message
    _truncate(good, keep=0.0)
    with pytest.raises(CheckpointReadError, match='no complete checkpoint beside it'):
        _load_checkpoint(bad)


def _lr_at(step, base=0.01):
    """The toy schedule of test_checkpoint_compat, closed form: LinearLR(0.1, end=2) (MMEngine's
    LinearLR reaches its end factor at step end - 1) then MultiStepLR(milestones=[3])."""
    return base * (0.1 + 0.9 * min(step, 1) / 1) * (0.1 if step >= 3 else 1.0)


def _signal_hook(at, sig):
    from mmengine.hooks import Hook

    class _Hook(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter == at:
                os.kill(os.getpid(), sig)
    return _Hook()


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGUSR1])
def test_preemption_saves_the_current_iteration_and_resume_matches_an_uninterrupted_run(
        tmp_path, sig, monkeypatch):
    from mmdet_droploss.hooks import PREEMPTED_EXIT_CODE, Preempted, PreemptionHook
    status = tmp_path / 'status'
    monkeypatch.setenv('MMDET_DROPLOSS_PREEMPT_FILE', str(status))
    before = signal.getsignal(sig)
    runner = toy_runner(tmp_path, max_iters=6, custom_hooks=[PreemptionHook(),
                                                             _signal_hook(2, sig)])
    with pytest.raises(Preempted) as info:
        runner.train()
    assert info.value.code == PREEMPTED_EXIT_CODE == 75
    assert signal.getsignal(sig) == before  # the hook put the previous handler back
    path = tmp_path / 'iter_3.pth'  # the signal arrived during iteration 3: saved at 3
    assert (tmp_path / 'last_checkpoint').read_text() == str(path)
    assert status.read_text() == f'3 {path}\n'
    ckpt = torch.load(path, weights_only=True)
    assert ckpt['meta']['iter'] == 3
    assert ckpt['optimizer']['state'], 'optimizer state (momentum) saved'
    assert ckpt['optimizer']['param_groups'][0]['lr'] == pytest.approx(_lr_at(3), rel=1e-6)

    resumed = toy_runner(tmp_path, max_iters=6, resume=True, custom_hooks=[PreemptionHook()])
    resumed.train()
    assert resumed.iter == 6
    lrs = resumed.message_hub.get_scalar('train/lr').data[0]
    assert lrs.tolist() == pytest.approx([_lr_at(t) for t in range(6)], rel=1e-6)
    assert resumed.optim_wrapper.get_lr()['lr'][0] == pytest.approx(_lr_at(6), rel=1e-6)
