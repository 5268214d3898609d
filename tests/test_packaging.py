"""The library as users install it: a wheel (and sdist) with configs, model index and tools.

One wheel is built (``python -m build``: sdist, then the wheel from the sdist) from a copy of
the repository's sources and installed into a new virtual environment that borrows the heavy
dependencies (torch, mmcv, mmdet, ...) of the project environment through a ``.pth`` file.
Everything then runs with that environment's interpreter, from a directory outside the
repository, with no ``PYTHONPATH``: what it imports is the installed wheel, which is checked.
"""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config

from conftest import free_port
from mmdet_droploss.model_zoo import INDEX_ENV
from packaging_env import DEMO_CONFIG, ROOT, copy_sources, has_module, json_out, make_venv, \
    outside_env, pip_into, run, version

ZOO_NAME = 'mask-rcnn_r50_fpn_sample1e-3_ms-2x_lvis-v0.5'
# 2 iterations, no evaluation (mmengine validates after the last iteration: minutes on 2 cores).
TWO_ITERS = ('--cfg-options', 'train_cfg.max_iters=2', 'val_cfg=None', 'val_dataloader=None',
             'val_evaluator=None')


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """``{'wheel': Path, 'sdist': Path or None}`` built from a copy of the sources."""
    tmp = tmp_path_factory.mktemp('packaging')
    src = copy_sources(tmp / 'src')
    out = tmp / 'dist'
    if has_module('build'):  # the sdist, then the wheel from the unpacked sdist
        subprocess.run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', str(out),
                        str(src)], check=True, capture_output=True)
    else:  # without the dev extra: the wheel only
        subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                        '--no-build-isolation', '-w', str(out), str(src)], check=True)
    sdists = sorted(out.glob('*.tar.gz'))
    return {'wheel': next(out.glob('*.whl')), 'sdist': sdists[0] if sdists else None}


@pytest.fixture(scope='module')
def venv(built, tmp_path_factory):
    """The wheel installed in a new venv; a work directory outside the repository; its env."""
    tmp = tmp_path_factory.mktemp('venv')
    python = make_venv(tmp / 'venv')
    pip_into(python, built['wheel'])
    work = tmp / 'work'
    work.mkdir()
    env = outside_env()
    env.update(PATH=f'{python.parent}{os.pathsep}{env.get("PATH", "")}', OMP_NUM_THREADS='2',
               MMDET_DROPLOSS_CHECKPOINTS=str(tmp / 'zoo_cache'))
    env.pop(INDEX_ENV, None)
    imported = json_out([python, '-c', 'import json, mmdet_droploss; from mmdet_droploss '
                         'import resources as r; print(json.dumps([mmdet_droploss.__file__, '
                         'str(r.configs_root()), str(r.tools_root())]))'], work, env)
    return {'python': python, 'bin': python.parent, 'work': work, 'env': env,
            'package': Path(imported[0]).parent, 'roots': imported[1:], 'root': tmp}


def _py(venv, code: str) -> dict:
    """Run ``code`` (which prints one JSON line last) with the venv's interpreter."""
    return json_out([venv['python'], '-c', code], venv['work'], venv['env'])


def _tree(path: Path) -> dict:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob('*'))
            if p.is_file() and '__pycache__' not in p.parts}


# --- the artefacts ------------------------------------------------------------------------------

def test_wheel_carries_configs_index_and_tools_as_in_the_repository(built):
    assert built['wheel'].name == f'mmdet_droploss-{version()}-py3-none-any.whl'
    with zipfile.ZipFile(built['wheel']) as whl:
        prefix = 'mmdet_droploss/.mim/'
        packed = {n[len(prefix):]: whl.read(n) for n in whl.namelist()
                  if n.startswith(prefix) and not n.endswith('/')}
        entry_points = whl.read(f'mmdet_droploss-{version()}.dist-info/entry_points.txt')
        metadata = whl.read(f'mmdet_droploss-{version()}.dist-info/METADATA').decode()
    expected = {f'configs/{k}': v for k, v in _tree(ROOT / 'configs').items()}
    expected.update({f'tools/{k}': v for k, v in _tree(ROOT / 'tools').items()})
    expected['model-index.yml'] = (ROOT / 'model-index.yml').read_bytes()
    assert packed == expected  # byte for byte, nothing missing, nothing extra
    assert b'mmdet-droploss = mmdet_droploss.commands:main' in entry_points
    assert f'Version: {version()}' in metadata.splitlines()


def test_generated_mim_folder_is_not_in_git():
    tracked = subprocess.run(['git', 'ls-files', 'mmdet_droploss/.mim'], cwd=ROOT,
                             capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip('not a git checkout')
    assert tracked.stdout == ''


@pytest.mark.skipif(not (has_module('build') and has_module('twine')), reason='needs the dev extra')
def test_sdist_carries_mim_folder_and_twine_check_passes(built):
    import tarfile
    with tarfile.open(built['sdist']) as sdist:
        names = sdist.getnames()
    top = f'mmdet_droploss-{version()}'
    for rel in ('mmdet_droploss/.mim/model-index.yml', 'mmdet_droploss/.mim/tools/train.py',
                'mmdet_droploss/.mim/configs/baseline/metafile.yml', 'setup.py',
                'mmdet_droploss/.mim/configs/droploss/mask_rcnn_r50_lvis.py'):
        assert f'{top}/{rel}' in names
    out = run([sys.executable, '-m', 'twine', 'check', '--strict', built['wheel'],
               built['sdist']], ROOT, os.environ)
    assert out.count('PASSED') == 2


# --- the installed wheel, used from outside the repository -------------------------------------

def test_the_installed_wheel_is_what_runs(venv):
    assert venv['package'].is_relative_to(venv['root'] / 'venv')
    assert not venv['work'].is_relative_to(ROOT)
    assert venv['roots'] == [str(venv['package'] / '.mim' / 'configs'),
                             str(venv['package'] / '.mim' / 'tools')]


def test_user_config_inherits_packaged_config_with_mmdet_bases(venv):
    (venv['work'] / 'my_droploss.py').write_text(
        "_base_ = 'mmdet_droploss::droploss/mask_rcnn_r50_lvis.py'\n"
        'model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(drop_frequent=True))))\n')
    got = _py(venv, 'import json, mmdet_droploss\n'
              'from mmengine.config import Config\n'
              "cfg = Config.fromfile('my_droploss.py')\n"
              'print(json.dumps(cfg.to_dict()["model"]))')
    # The reference: the repository's config, read here directly by its path.
    want = Config.fromfile(str(ROOT / 'configs/droploss/mask_rcnn_r50_lvis.py')).to_dict()['model']
    assert want['roi_head']['bbox_head']['loss_cls'].get('drop_frequent', False) is False
    want['roi_head']['bbox_head']['loss_cls']['drop_frequent'] = True
    assert got == json.loads(json.dumps(want))
    assert got['roi_head']['bbox_head']['loss_cls']['type'] == 'DropLoss'
    assert got['backbone']['depth'] == 50  # from mmdet::_base_/models/mask-rcnn_r50_fpn.py


def test_zoo_name_resolves_from_the_packaged_index(venv):
    got = _py(venv, 'import json\n'
              'from mmdet_droploss.model_zoo import get_entry\n'
              f"e = get_entry('{ZOO_NAME}')\n"
              'print(json.dumps([str(e.metafile), e.sha256, e.weights, str(e.config_path), '
              'e.config_path.is_file()]))')
    metafile = ROOT / 'configs/baseline/metafile.yml'
    model = next(m for m in yaml.safe_load(metafile.read_text())['Models']
                 if m['Name'] == ZOO_NAME)
    assert got[0] == str(venv['package'] / '.mim/configs/baseline/metafile.yml')
    assert got[1] == model['Weights'].rsplit('-', 1)[1].split('.')[0]
    assert got[2] == model['Weights']
    assert got[3].endswith(model['Config'].split('::')[1]) and got[4]
    listing = run([venv['bin'] / 'mmdet-droploss', 'download', '--list'], venv['work'],
                  venv['env'])
    for m in yaml.safe_load(metafile.read_text())['Models']:
        assert m['Name'] in listing


def test_commands_and_module_entry_point(venv):
    out = run([venv['python'], '-m', 'mmdet_droploss', 'configs', 'demo/'], venv['work'],
              venv['env'])
    assert out.split() == [f'mmdet_droploss::{p}' for p in sorted(
        p.relative_to(ROOT / 'configs').as_posix() for p in (ROOT / 'configs/demo').rglob('*.py'))]
    bad = subprocess.run([venv['bin'] / 'mmdet-droploss', 'train', 'demo/mask_rcnn_tiny_dropl.py'],
                         cwd=venv['work'], env=venv['env'], capture_output=True, text=True)
    assert bad.returncode != 0
    assert f'Did you mean mmdet_droploss::{DEMO_CONFIG}' in bad.stderr


@pytest.fixture(scope='module')
def demo_run(venv):
    """``mmdet-droploss demo`` for 2 iterations, its data generated into a chosen folder."""
    mim_before = _tree(venv['package'] / '.mim')
    data, work_dir = venv['root'] / 'my data', venv['root'] / 'demo_run'
    log = run([venv['bin'] / 'mmdet-droploss', 'demo', '--data-dir', data, '--work-dir',
               work_dir, '--nproc', '1', *TWO_ITERS],
              venv['work'], dict(venv['env'], PORT=str(free_port())))
    assert _tree(venv['package'] / '.mim') == mim_before  # nothing written into the install
    return {'data': data, 'work_dir': work_dir, 'log': log}


def _check_two_iteration_run(work_dir: Path, data: Path) -> None:
    ckpt = torch.load(work_dir / 'iter_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 2
    # The DropLoss demo head: 20 sigmoid logits, no background logit.
    assert ckpt['state_dict']['roi_head.bbox_head.fc_cls.weight'].shape[0] == 20
    dumped = Config.fromfile(str(work_dir / 'mask_rcnn_tiny_droploss_demo.py'))
    assert dumped.model.roi_head.bbox_head.loss_cls.type == 'DropLoss'
    assert dumped.train_dataloader.dataset.data_root == f'{data}/'


def test_demo_generates_data_where_asked_and_trains_packaged_config(demo_run):
    data = demo_run['data']
    with open(data / 'annotations' / 'lvis_demo_train.json') as f:
        train = json.load(f)
    assert len(train['categories']) == 20 and len(train['images']) == 400
    assert len(list((data / 'train').iterdir())) == 400
    _check_two_iteration_run(demo_run['work_dir'], data)


@pytest.mark.skipif(not has_module('mim'), reason='openmim is not installed (dev extra)')
def test_mim_train_and_test_find_the_packaged_config_and_tools(venv, demo_run):
    work_dir = venv['root'] / 'mim_run'
    env = dict(venv['env'], MMDET_DROPLOSS_DEMO_DATA=f'{demo_run["data"]}/')
    mim = [venv['python'], '-m', 'mim']
    out = run([*mim, 'train', 'mmdet_droploss', Path(DEMO_CONFIG).name, '--work-dir', work_dir,
               *TWO_ITERS], venv['work'], env)
    assert f'{venv["package"]}/.mim/tools/train.py {venv["package"]}/.mim/configs/' \
        f'{DEMO_CONFIG}' in out
    _check_two_iteration_run(work_dir, demo_run['data'])
    # Evaluated on 2 validation images (the LVIS metric over the whole set would take minutes).
    out = run([*mim, 'test', 'mmdet_droploss', Path(DEMO_CONFIG).name, '--checkpoint',
               work_dir / 'iter_2.pth', '--work-dir', venv['root'] / 'mim_test',
               '--cfg-options', 'test_dataloader.dataset.indices=2'], venv['work'], env)
    assert f'{venv["package"]}/.mim/tools/test.py' in out
    assert 'lvis/bbox_APr' in out and 'lvis/segm_APf' in out
