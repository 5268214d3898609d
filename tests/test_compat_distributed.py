"""mmengine's launchers and DDP wrapper on a machine without CUDA (mmdet_droploss.compat)."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import mmdet_droploss  # noqa: F401  (applies the compat fixes)
from conftest import free_port
from mmdet_droploss.compat import distributed as compat_dist

pytestmark = pytest.mark.skipif(torch.cuda.is_available(),
                                reason='the CPU fallbacks only act without CUDA')

# Each rank inits through mmengine exactly as Runner.setup_env does, wraps a model the way
# Runner.wrap_model does by default, and takes one DDP step on rank-specific data.
WORKER = textwrap.dedent('''
    import json, os, sys
    import torch
    import mmdet_droploss  # noqa: F401
    from mmengine.dist import get_rank, get_world_size, init_dist
    from mmengine.model.wrappers import MMDistributedDataParallel
    import torch.distributed as dist

    init_dist(sys.argv[1], backend='nccl')
    rank = get_rank()
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    ddp = MMDistributedDataParallel(module=model, device_ids=[int(os.environ['LOCAL_RANK'])],
                                    broadcast_buffers=False)
    x = torch.full((4, 3), float(rank + 1))
    ddp(x).sum().backward()
    print(json.dumps(dict(rank=rank, world=get_world_size(), backend=dist.get_backend(),
                          grad=model.weight.grad.tolist()[0], device_ids=ddp.device_ids)))
    # no destroy_process_group here: the compat layer's atexit handler does it, as it does
    # for the training tools
''')


def _run_ranks(tmp_path, launcher: str, env_per_rank):
    script = tmp_path / 'worker.py'
    script.write_text(WORKER)
    procs = []
    for env in env_per_rank:
        full_env = {**os.environ, 'OMP_NUM_THREADS': '1', **env}
        procs.append(subprocess.Popen([sys.executable, str(script), launcher], env=full_env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
        outputs.append(__import__('json').loads(out.strip().splitlines()[-1]))
    return outputs


def test_pytorch_launcher_falls_back_to_gloo_and_ddp_syncs_gradients(tmp_path):
    port = str(free_port())
    envs = [dict(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE='2', MASTER_ADDR='127.0.0.1',
                 MASTER_PORT=port) for r in range(2)]
    outs = _run_ranks(tmp_path, 'pytorch', envs)
    for out in outs:
        assert out['world'] == 2 and out['backend'] == 'gloo' and out['device_ids'] is None
        # d(sum(w.x + b))/dw = sum of inputs: rank 0 has 4 rows of 1s, rank 1 of 2s; DDP
        # averages over the two processes: (4 + 8) / 2 = 6 per weight.
        assert out['grad'] == pytest.approx([6.0, 6.0, 6.0])
    assert sorted(o['rank'] for o in outs) == [0, 1]


def test_slurm_launcher_works_without_gpus(tmp_path):
    env = dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_NODELIST='localhost', SLURM_LOCALID='0',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    (out,) = _run_ranks(tmp_path, 'slurm', [env])
    assert out['world'] == 1 and out['backend'] == 'gloo'
    assert out['grad'] == pytest.approx([4.0, 4.0, 4.0])


def test_unpatched_launcher_fails_on_cpu_which_is_why_the_fix_exists(monkeypatch):
    from mmengine.dist import utils as dist_utils
    original = dist_utils._init_dist_pytorch.__wrapped__
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('LOCAL_RANK', '0')
    with pytest.raises((RuntimeError, AssertionError, AttributeError)):
        original('gloo')  # torch.cuda.set_device raises before any process group exists
    assert not torch.distributed.is_initialized()


def test_process_group_is_destroyed_before_interpreter_shutdown(monkeypatch):
    import atexit
    registered = []
    monkeypatch.setattr(atexit, 'register', registered.append)
    from mmengine.dist import utils as dist_utils
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    dist_utils._init_dist_pytorch('nccl')
    try:
        assert torch.distributed.get_backend() == 'gloo'
        assert registered == [compat_dist.destroy_process_group_at_exit]
    finally:
        compat_dist.destroy_process_group_at_exit()
    assert not torch.distributed.is_initialized()
    compat_dist.destroy_process_group_at_exit()  # idempotent


def test_fixes_are_installed_once():
    from mmengine.dist import utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel
    before = (dist_utils._init_dist_pytorch, dist_utils._init_dist_slurm,
              MMDistributedDataParallel.__init__)
    compat_dist.apply()
    after = (dist_utils._init_dist_pytorch, dist_utils._init_dist_slurm,
             MMDistributedDataParallel.__init__)
    assert before == after
    assert compat_dist.cpu_backend('nccl') == 'gloo'
    assert compat_dist.cpu_backend('gloo') == 'gloo'
