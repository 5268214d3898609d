"""Faults of a distributed run, as a cluster produces them: the demo config on 2 gloo processes
through tools/dist_train.sh, with 2 data-loader workers per rank.

* a rank SIGKILLed (the out-of-memory killer), the launcher (torchrun) SIGKILLed: the command
  returns non-zero within a bounded time, names the cause, and no process of the job is left;
* SIGTERM to the job (preemption): a checkpoint at the current iteration, exit status 75, and
  ``--resume`` continues to the end with the learning rate of an uninterrupted run;
* a truncated checkpoint: ``--resume`` falls back to the previous complete one, and naming it
  explicitly stops with a message, not a torch traceback.

Every process the job starts is recorded from /proc (with its start time) and killed at the end
of the test if it is still there; no other process is ever signalled.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import DEMO_CONFIG, REPO_ROOT, demo_env
from proc_tree import Recorder, alive, cmdline, descendants, kill_all, stat, wait_gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'), reason='/proc needed')

MAX_ITERS = 24
# Warm-up to 10, a step at 16: the learning rate changes at every iteration up to 10 and again
# at 16, so a resume that lost or repeated a scheduler step would show.
SCHEDULE = ['param_scheduler.0.end=10', 'param_scheduler.1.milestones=[16]']
FAST = ['train_dataloader.num_workers=2', 'default_hooks.logger.interval=1',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']
BOUND_S = 90  # the job must be over this long after a fault (torchrun's grace period is 30 s)
PREEMPT_GRACE_S = 150


def _lr_at(step, base=0.02):
    """The demo schedule with SCHEDULE applied, closed form (independent of MMEngine): linear
    warm-up from 0.01 x to 1 x reached at step end - 1 = 9 (MMEngine's LinearLR), x 0.1 from 16."""
    return base * (0.01 + 0.99 * min(step, 9) / 9) * (0.1 if step >= 16 else 1.0)


class Job:
    """tools/dist_train.sh in a session of its own, output to a file, descendants recorded."""

    def __init__(self, tmp_path, data_root, work_dir, *options, cfg_options=(), max_iters=200,
                 nproc=2, env=None):
        self.log_path = tmp_path / f'log_{time.monotonic_ns()}.txt'
        self.log = open(self.log_path, 'w')
        args = ['tools/dist_train.sh', str(DEMO_CONFIG), str(nproc), '--work-dir', str(work_dir),
                *options, '--cfg-options', f'train_cfg.max_iters={max_iters}', *FAST, *SCHEDULE,
                *cfg_options]
        self.proc = subprocess.Popen(args, cwd=REPO_ROOT,
                                     env={**demo_env(data_root), **(env or {})},
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.recorder = Recorder(self.proc.pid).__enter__()

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for_iteration(self, n, timeout=900):  # start-up alone: minutes under heavy load
        pattern = re.compile(r'Iter\(train\) \[ *(\d+)/')
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [int(m) for m in pattern.findall(self.output())]
            if done and max(done) >= n:
                return max(done)
            assert self.proc.poll() is None, f'the job ended early:\n{self.output()[-3000:]}'
            time.sleep(0.2)
        raise AssertionError(f'iteration {n} not reached:\n{self.output()[-3000:]}')

    def processes(self):
        """(torchrun, ranks by local rank, data-loader workers) as (pid, start time)."""
        procs = descendants(self.proc.pid)
        torchrun = [p for p in procs if 'torch.distributed.run' in cmdline(p[0])]
        assert len(torchrun) == 1, [cmdline(p[0]) for p in procs]
        ranks = {}
        for p in procs:
            if stat(p[0])[1] == torchrun[0][0]:
                with open(f'/proc/{p[0]}/environ', 'rb') as f:
                    env = dict(kv.split(b'=', 1) for kv in f.read().split(b'\0') if b'=' in kv)
                ranks[int(env[b'LOCAL_RANK'])] = p
        workers = [p for p in procs if stat(p[0])[1] in {r[0] for r in ranks.values()}]
        return torchrun[0], ranks, workers

    def wait_for_workers(self, count=4, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            torchrun, ranks, workers = self.processes()
            if len(ranks) == 2 and len(workers) >= count:
                return torchrun, ranks, workers
            time.sleep(0.2)
        raise AssertionError(f'no {count} data-loader workers: {self.processes()}')

    def finish(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            self.recorder.__exit__()
            self.log.close()
        return rc

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.recorder.__exit__()
        kill_all(self.recorder.seen)


@pytest.fixture
def job(tmp_path, demo_data):
    jobs = []

    def start(*options, work_dir=None, **kwargs):
        jobs.append(Job(tmp_path, Path(demo_data['root']), work_dir or tmp_path / 'work',
                        *options, **kwargs))
        return jobs[-1]
    yield start
    for j in jobs:
        j.cleanup()


def _assert_nothing_left(job):
    left = wait_gone(job.recorder.seen, timeout=10)
    assert not left, f'processes of the job left: {[(p, cmdline(p[0])) for p in left]}'


def test_sigkill_of_a_rank_ends_the_whole_job(job):
    j = job()
    j.wait_for_iteration(2)
    _, ranks, workers = j.wait_for_workers()
    start = time.monotonic()
    os.kill(ranks[1][0], signal.SIGKILL)
    rc = j.finish(timeout=BOUND_S)
    elapsed = time.monotonic() - start
    out = j.output()
    assert rc != 0 and elapsed < BOUND_S
    _assert_nothing_left(j)
    # torchrun's report names the rank and the signal; the script says the job failed
    assert re.search(r'rank\s*:\s*1 \(local_rank: 1\)', out), out[-3000:]
    assert 'Signal 9 (SIGKILL) received by PID' in out
    assert 'dist_train.sh: the job failed' in out


def test_sigkill_of_the_launcher_ends_ranks_and_workers(job):
    j = job()
    j.wait_for_iteration(2)
    torchrun, ranks, workers = j.wait_for_workers()
    start = time.monotonic()
    os.kill(torchrun[0], signal.SIGKILL)
    rc = j.finish(timeout=BOUND_S)
    assert rc == 128 + signal.SIGKILL and time.monotonic() - start < BOUND_S
    _assert_nothing_left(j)
    assert f'was killed by signal KILL (exit status 137)' in j.output()
    assert not any(alive(p) for p in [*ranks.values(), *workers])


@pytest.fixture(scope='module')
def preempted(tmp_path_factory, demo_data):
    """A job SIGTERMed (as a scheduler does) once it is past iteration 8; its work dir, and a
    copy of it taken right after the preemption (for the truncation test)."""
    root = tmp_path_factory.mktemp('preempted')
    work = root / 'work'
    # torchrun gives the ranks 30 s after its SIGTERM; on this shared 2-core machine an
    # iteration can take 8 s, so the test allows more (the variable is torchrun's own).
    j = Job(root, Path(demo_data['root']), work, max_iters=MAX_ITERS,
            cfg_options=['default_hooks.checkpoint.interval=4'],
            env={'TORCH_ELASTIC_SHUTDOWN_TIMEOUT': str(PREEMPT_GRACE_S)})
    try:
        j.wait_for_iteration(8)
        j.wait_for_workers()
        os.kill(j.proc.pid, signal.SIGTERM)
        rc = j.finish(timeout=PREEMPT_GRACE_S + 30)
        _assert_nothing_left(j)
    finally:
        j.cleanup()
    shutil.copytree(work, root / 'copy')
    return rc, j.output(), work, root / 'copy'


def test_sigterm_saves_the_current_iteration_and_resume_continues_as_if_uninterrupted(
        preempted, job):
    rc, out, work, _ = preempted
    assert rc == 75, out[-3000:]
    match = re.search(r'Preempted \(SIGTERM\) at iteration (\d+): saved (\S+)\.', out)
    assert match, out[-3000:]
    iteration, path = int(match.group(1)), Path(match.group(2))
    last_logged = max(int(m) for m in re.findall(r'Iter\(train\) \[ *(\d+)/', out))
    assert 8 <= iteration < MAX_ITERS and iteration >= last_logged
    assert path == work / f'iter_{iteration}.pth'
    assert (work / 'last_checkpoint').read_text() == str(path)
    assert f'dist_train.sh: preempted at iteration {iteration}, checkpoint saved: {path}' in out
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == iteration and ckpt['optimizer']['state']

    j = job('--resume', work_dir=work, max_iters=MAX_ITERS)
    assert j.finish(timeout=600) == 0, j.output()[-3000:]
    resumed = j.output()
    assert f'Auto resumed from the latest checkpoint {path}' in resumed
    assert not re.search(rf'Iter\(train\) \[ *{iteration}/', resumed)  # nothing repeated
    assert re.search(rf'Iter\(train\) \[ *{iteration + 1}/{MAX_ITERS}\]', resumed)
    final = torch.load(work / f'iter_{MAX_ITERS}.pth', map_location='cpu', weights_only=True)
    assert final['meta']['iter'] == MAX_ITERS
    # the schedule over the whole run, interrupted or not, is the closed form
    lrs = final['message_hub']['log_scalars']['train/lr'].data[0]
    assert lrs.tolist() == pytest.approx([_lr_at(t) for t in range(MAX_ITERS)], rel=1e-6)
    assert final['optimizer']['param_groups'][0]['lr'] == pytest.approx(_lr_at(MAX_ITERS),
                                                                        rel=1e-6)


def test_truncated_checkpoint_resume_falls_back_or_stops_with_a_message(preempted, demo_data):
    rc, out, _, work = preempted
    assert rc == 75, out[-3000:]
    latest = work / Path((work / 'last_checkpoint').read_text()).name
    (work / 'last_checkpoint').write_text(str(latest))  # the copy's own file
    data = latest.read_bytes()
    latest.write_bytes(data[:len(data) // 2])  # the disk filled up, the node died mid-write
    previous = max((p for p in work.glob('iter_*.pth') if p != latest),
                   key=lambda p: int(p.stem.split('_')[1]))
    step = int(previous.stem.split('_')[1])
    env = demo_env(Path(demo_data['root']))
    common = [sys.executable, 'tools/train.py', str(DEMO_CONFIG), '--work-dir', str(work)]
    options = ['--cfg-options', f'train_cfg.max_iters={step + 1}', *FAST, *SCHEDULE,
               'train_dataloader.num_workers=0']
    explicit = subprocess.run([*common, '--resume', str(latest), *options], cwd=REPO_ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=900)
    assert explicit.returncode != 0
    assert f"Checkpoint '{latest}' is truncated or corrupt" in explicit.stdout
    assert f'--resume {previous}' in explicit.stdout
    assert 'Traceback' not in explicit.stdout, explicit.stdout[-3000:]

    auto = subprocess.run([*common, '--resume', *options], cwd=REPO_ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=900)
    assert auto.returncode == 0, auto.stdout[-3000:]
    assert f"'{latest}' (named by {work / 'last_checkpoint'}) is truncated" in auto.stdout
    assert f'resuming from the previous complete checkpoint {previous}' in auto.stdout
    assert re.search(rf'Iter\(train\) \[ *{step + 1}/{step + 1}\]', auto.stdout)
    assert torch.load(work / f'iter_{step + 1}.pth', weights_only=True)['meta']['iter'] == step + 1


@pytest.mark.parametrize('config', ['configs/_base_/default_runtime.py',
                                    'configs/droploss/mask_rcnn_r50_lvis.py',
                                    'configs/demo/mask_rcnn_tiny_droploss_demo.py'])
def test_the_preemption_hook_is_on_by_default(config):
    from mmengine.config import Config
    assert dict(type='PreemptionHook') in Config.fromfile(str(REPO_ROOT / config)).custom_hooks
