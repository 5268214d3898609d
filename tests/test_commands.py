"""Shipped configs by name (``mmdet_droploss.resources``) and the ``mmdet-droploss`` command.

The installed package is tested in ``test_packaging.py``; these run in this process.
"""
import json
import sys
from pathlib import Path

import pytest

from mmdet_droploss import commands, resources

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = 'demo/mask_rcnn_tiny_droploss_demo.py'


def test_shipped_configs_are_the_repositorys(capsys):
    want = sorted(p.relative_to(ROOT / 'configs').as_posix()
                  for p in (ROOT / 'configs').rglob('*.py'))
    assert resources.list_configs() == want
    assert commands.main(['configs', 'eql/']) == 0
    assert capsys.readouterr().out.split() == [f'mmdet_droploss::{c}' for c in want
                                               if 'eql/' in c]


def test_config_path_accepts_paths_scoped_and_relative_names():
    want = (resources.configs_root() / DEMO_CONFIG).resolve()
    for name in (DEMO_CONFIG, f'configs/{DEMO_CONFIG}', f'mmdet_droploss::{DEMO_CONFIG}',
                 str(want)):
        assert resources.config_path(name).resolve() == want
    with pytest.raises(resources.ConfigNotFoundError, match='Did you mean'):
        resources.config_path('droploss/mask_rcnn_r50_lvis_v2.py')
    assert resources.config_path('no/such.py', must_exist=False) is None


def test_every_alias_names_a_shipped_tool():
    tools = commands.available_tools()
    for alias, tool in commands.ALIASES.items():
        assert tool.replace('_', '-') in tools, alias
    assert {'train', 'test', 'dist-train', 'dist-test', 'download-checkpoint'} <= set(tools)
    assert 'setup-env' not in tools and '-launch' not in tools


def test_unknown_command_lists_commands(capsys):
    assert commands.main(['trian']) == 2
    err = capsys.readouterr().err
    assert "unknown command 'trian'" in err and 'train' in err


def test_python_tool_runs_in_process_with_its_arguments_and_exit_code(tmp_path, capsys):
    # Two images; category 1 in both, category 2 in one (LVIS group 'r': 1-10 images).
    ann = dict(images=[dict(id=1), dict(id=2)],
               categories=[dict(id=1, name='a'), dict(id=2, name='b')],
               annotations=[dict(id=1, image_id=1, category_id=1),
                            dict(id=2, image_id=2, category_id=1),
                            dict(id=3, image_id=2, category_id=2)])
    (tmp_path / 'train.json').write_text(json.dumps(ann))
    out = tmp_path / 'freq.json'
    argv = list(sys.argv)
    assert commands.main(['dataset-frequency', str(tmp_path / 'train.json'), '-o', str(out)]) == 0
    assert sys.argv == argv  # restored
    cats = json.loads(out.read_text())['categories']
    assert [(c['id'], c['image_count'], c['frequency']) for c in cats] == [(1, 2, 'r'), (2, 1, 'r')]
    assert commands.main(['dataset-frequency', str(tmp_path / 'missing.json'), '-o',
                          str(out)]) == 1
    assert 'missing.json' in capsys.readouterr().err


def test_shell_tool_runs_with_bash_and_reports_its_status(capfd):
    assert commands.main(['dist-train']) == 2  # too few arguments: the script's usage line
    assert 'usage:' in capfd.readouterr().err
