import hashlib
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import pytest
import torch
import yaml

from http_servers import serve_directory
from mmdet_droploss.model_zoo import CACHE_ENV, INDEX_ENV
from mmdet_droploss.third_party_notices import VERBOSE_ENV

# Two cores are shared by everything on the machine: keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))

# Image counts that give each LVIS group (r: 1-10 images, c: 11-100, f: > 100).
GROUP_IMAGE_COUNT = {'r': 5, 'c': 50, 'f': 500}


def write_frequency_file(path, groups: Sequence[str], num_images: int = 1000) -> str:
    """A frequency file whose class j has LVIS group ``groups[j]``."""
    cats = [dict(id=j + 1, name=f'class_{j}', frequency=g, image_count=GROUP_IMAGE_COUNT[g])
            for j, g in enumerate(groups)]
    with open(path, 'w') as f:
        json.dump(dict(num_train_images_with_annotations=num_images, categories=cats), f)
    return str(path)


@pytest.fixture
def frequency_file(tmp_path):
    """Factory: ``frequency_file('rcff')`` writes a file and returns its path."""
    def make(groups: Sequence[str]) -> str:
        return write_frequency_file(tmp_path / f'freq_{"".join(groups)}.json', groups)
    return make


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for a gloo rendezvous)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO_ROOT / 'configs/demo/mask_rcnn_tiny_droploss_demo.py'
DEMO_ZOO_NAME = 'demo-mask-rcnn-tiny-droploss'


@dataclass
class DemoRun:
    """A short distributed demo run: trained, resumed, validated and tested (see ``demo_run``)."""

    config: Path  # the config as the run used it (dumped into the work dir)
    work_dir: Path
    checkpoint: Path
    data_root: Path
    train_logs: List[str]  # combined stdout+stderr of the two tools/dist_train.sh calls
    test_log: str  # stdout+stderr of tools/dist_test.sh, given the checkpoint's zoo name
    zoo_cache: Path  # the model-zoo cache dist_test.sh downloaded into


def run_tool(args: Sequence[str], env: dict, timeout: float = 900) -> str:
    """Run a launch script from the repository root; fail the test with its output tail."""
    proc = subprocess.run([str(a) for a in args], cwd=REPO_ROOT, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stdout.splitlines()
                  if 'Error' in line or 'Traceback' in line or 'error:' in line][:40]
        raise AssertionError(f'{" ".join(map(str, args))} failed:\n' + '\n'.join(errors) +
                             f'\n... output tail:\n{proc.stdout[-4000:]}')
    return proc.stdout


def demo_env(data_root: Path) -> dict:
    # The data folder without its trailing slash: the configs join it as a path.
    return {**os.environ, 'MMDET_DROPLOSS_DEMO_DATA': str(data_root),
            'PYTHON': sys.executable, 'PORT': str(free_port())}


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory) -> dict:
    """The demo's synthetic dataset (default categories; 24 validation images to keep
    evaluation short), generated once per session; the paths of its parts."""
    from mmdet_droploss.datasets import SyntheticLVISSpec, generate_synthetic_lvis
    return generate_synthetic_lvis(str(tmp_path_factory.mktemp('demo_data')),
                                   SyntheticLVISSpec(num_val_images=24))


# A user's config: the demo's plus a module and a hook of the user's own (tests/user_probe.py).
USER_PROBE_CONFIG = """_base_ = '{demo}'
custom_imports = dict(imports=['mmdet_droploss', 'user_probe'], allow_failed_imports=False)
custom_hooks = _base_.custom_hooks + [dict(type='UserProbeHook')]
"""


@pytest.fixture(scope='session')
def demo_run(tmp_path_factory, demo_data) -> DemoRun:
    """Train the demo config with ``tools/dist_train.sh`` on 2 gloo processes for 6 iterations,
    resume it to 10 (validating at the end), and evaluate the result with
    ``tools/dist_test.sh`` by model-zoo name. Shared by every test that needs a trained demo work dir.

    The logs also serve the quiet-launch tests (test_third_party_notices.py): the first run
    trains a user's config inheriting the demo's, which imports ``tests/user_probe.py`` (a
    user's warnings); the second runs with ``MMDET_DROPLOSS_VERBOSE=1`` (every notice shown)."""
    root = tmp_path_factory.mktemp('demo')
    data_root = Path(demo_data['root'])
    work_dir = root / 'work_dir'
    common = ['--work-dir', work_dir, '--cfg-options', 'default_hooks.logger.interval=2',
              'train_cfg.val_interval=1000']
    user_config = root / 'user_config' / DEMO_CONFIG.name  # same name: the same dumped config
    user_config.parent.mkdir()
    user_config.write_text(USER_PROBE_CONFIG.format(demo=DEMO_CONFIG))
    env = {**demo_env(data_root), 'PYTHONPATH': os.pathsep.join(
        [str(Path(__file__).parent), *os.environ.get('PYTHONPATH', '').split(os.pathsep)])}
    first = run_tool(['tools/dist_train.sh', user_config, 2, *common, 'train_cfg.max_iters=6',
                      'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None'], env)
    # mmengine's MKL_NUM_THREADS notice and torchrun's OMP_NUM_THREADS banner show only where
    # the variables are unset
    env = {k: v for k, v in demo_env(data_root).items()
           if k not in ('MKL_NUM_THREADS', 'OMP_NUM_THREADS')}
    second = run_tool(['tools/dist_train.sh', DEMO_CONFIG, 2, *common, 'train_cfg.max_iters=10',
                       '--resume'], {**env, VERBOSE_ENV: '1'})
    checkpoint = work_dir / 'iter_10.pth'
    # Evaluate by model-zoo name: the checkpoint is published on a local HTTP server under an
    # index of its own, so dist_test.sh downloads and verifies it (both ranks, one download).
    with serve_directory(work_dir) as url:
        index = root / 'index'
        sha = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        (index / 'demo').mkdir(parents=True)
        (index / 'demo' / 'metafile.yml').write_text(yaml.safe_dump(dict(Models=[dict(
            Name=DEMO_ZOO_NAME, Config=str(DEMO_CONFIG.relative_to(REPO_ROOT)),
            Weights=f'{url}/{checkpoint.name}', **{'Weights SHA256': sha})])))
        env = {**demo_env(data_root), INDEX_ENV: str(index), CACHE_ENV: str(root / 'cache')}
        test_log = run_tool(['tools/dist_test.sh', DEMO_CONFIG, DEMO_ZOO_NAME, 2, '--work-dir',
                             work_dir], env)
    return DemoRun(config=work_dir / DEMO_CONFIG.name, work_dir=work_dir, checkpoint=checkpoint,
                   data_root=data_root, train_logs=[first, second], test_log=test_log,
                   zoo_cache=root / 'cache')
