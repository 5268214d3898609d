"""An editable install (what `make setup` does): ``mmdet_droploss/.mim`` links the checkout's
configs, tools and model index, and the installed package resolves ``mmdet_droploss::``
configs from there (tests/packaging_env.py; the wheel: tests/test_packaging.py)."""
from packaging_env import DEMO_CONFIG, copy_sources, json_out, make_venv, outside_env, pip_into


def test_editable_install_links_configs_and_resolves_scope(tmp_path):
    src = copy_sources(tmp_path / 'src')
    python = make_venv(tmp_path / 'venv')
    pip_into(python, '-e', src)
    for name in ('configs', 'tools', 'model-index.yml'):
        link = src / 'mmdet_droploss' / '.mim' / name
        assert link.is_symlink() and link.resolve() == (src / name).resolve()
    (tmp_path / 'cfg.py').write_text(f"_base_ = 'mmdet_droploss::{DEMO_CONFIG}'\n")
    out = json_out([python, '-c', 'import json, mmdet_droploss; from mmengine.config import '
                    "Config; print(json.dumps([mmdet_droploss.__file__, Config.fromfile("
                    "'cfg.py').model.roi_head.bbox_head.loss_cls.type]))"], tmp_path,
                   outside_env())
    assert out == [str(src / 'mmdet_droploss' / '__init__.py'), 'DropLoss']
