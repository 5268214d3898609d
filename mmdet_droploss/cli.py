"""What ``tools/train.py`` and ``tools/test.py`` share: config loading, overrides, checks.

The tools follow mmdet's command-line conventions (``--work-dir``, ``--cfg-options``,
``--launcher``, ``--local_rank``); this module holds the logic once. Before anything heavy is
built, :func:`check_dataset_paths` makes sure the annotation files and image folders a run will
read exist, so a missing dataset stops with a message naming the config key and the fix instead
of a traceback from inside the LVIS API.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict, DictAction

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


class DatasetPathError(FileNotFoundError):
    """A dataset file or folder named by the config does not exist."""


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every launch tool takes, spelled as in mmdet's tools."""
    parser.add_argument('--work-dir', help='directory for logs, checkpoints and results')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_dataloader.batch_size=4 (xxx=[a,b] for lists)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def export_local_rank(args: argparse.Namespace) -> None:
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def load_config(args: argparse.Namespace) -> Config:
    """Read the config, apply ``--cfg-options`` and ``--launcher``, and choose the work dir.

    ``args.config`` is a path or the name of a shipped config (``mmdet_droploss::demo/x.py``).

    Without ``--work-dir`` or a ``work_dir`` in the config, runs go to
    ``./work_dirs/<config name>`` as with mmdet.
    """
    from .resources import ConfigNotFoundError, config_path
    try:  # a path, or a shipped config's name: mmdet_droploss::droploss/x.py, droploss/x.py
        args.config = str(config_path(args.config))
    except ConfigNotFoundError as err:
        raise SystemExit(str(err)) from None
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    from .hooks import use_rank_zero_logger
    use_rank_zero_logger(cfg)  # one writer for the test metrics file on many ranks
    if cfg.get('model_wrapper_cfg') is None:  # mmengine's default, without deprecated arguments
        from .compat.distributed import default_model_wrapper_cfg
        wrapper = default_model_wrapper_cfg(cfg.get('find_unused_parameters', False))
        if wrapper is not None:
            cfg.model_wrapper_cfg = wrapper
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def _dataset_configs(dataset: ConfigDict, key: str) -> Iterable[Tuple[str, ConfigDict]]:
    """The leaf dataset configs under a (possibly wrapped) dataset config, with their keys."""
    if 'dataset' in dataset:  # ClassBalancedDataset, RepeatDataset, ...
        yield from _dataset_configs(dataset['dataset'], key + '.dataset')
    elif 'datasets' in dataset:  # ConcatDataset
        for i, inner in enumerate(dataset['datasets']):
            yield from _dataset_configs(inner, f'{key}.datasets.{i}')
    else:
        yield key, dataset


def _is_remote(path: str) -> bool:
    return '://' in path


def missing_dataset_paths(cfg: Config, loaders: Sequence[str]) -> List[str]:
    """Descriptions of the annotation files and image folders that do not exist."""
    problems = []
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg or 'dataset' not in loader_cfg:
            continue
        for key, dataset in _dataset_configs(loader_cfg['dataset'], f'{loader}.dataset'):
            if dataset.get('backend_args'):  # petrel/S3 storage: cannot be checked locally
                continue
            data_root = dataset.get('data_root') or ''
            ann_file = dataset.get('ann_file')
            if ann_file:
                path = ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)
                if not _is_remote(path) and not osp.isfile(path):
                    problems.append(f'{key}.ann_file: {path}')
            img_dir = (dataset.get('data_prefix') or {}).get('img')
            if img_dir:
                path = img_dir if osp.isabs(img_dir) else osp.join(data_root, img_dir)
                if not _is_remote(path) and not osp.isdir(path):
                    problems.append(f'{key}.data_prefix.img: {path}')
    return problems


def check_dataset_paths(cfg: Config, loaders: Sequence[str]) -> None:
    """Raise :class:`DatasetPathError` naming every missing dataset path, and how to fix it."""
    problems = missing_dataset_paths(cfg, loaders)
    if problems:
        listing = '\n  '.join(problems)
        raise DatasetPathError(
            f'The dataset this config reads is missing (working directory {os.getcwd()}):\n'
            f'  {listing}\n'
            'Download the dataset (LVIS: see docs/experiments.md), or point the config at your '
            'copy, e.g. --cfg-options train_dataloader.dataset.data_root=/path/to/lvis/ '
            '(mind RFS wrappers: train_dataloader.dataset.dataset.data_root). For the built-in '
            'demo data run: python tools/generate_demo_dataset.py')


def resolve_load_from(value: Optional[str]) -> Optional[str]:
    """A model-zoo name is accepted wherever a checkpoint path or URL is."""
    if not value:
        return value
    from .model_zoo import resolve_checkpoint
    return resolve_checkpoint(value)


def _is_model_component(key: str) -> bool:
    """Whether a config key holds a ``MODELS`` component (others: task utils, init, layers)."""
    last = key.rsplit('.', 1)[-1]
    return (last in ('model', 'backbone', 'neck', 'data_preprocessor') or
            last.startswith('loss') or last.endswith(('_head', '_roi_extractor')) or
            last.isdigit() and key.rsplit('.', 2)[-2].endswith('_head'))  # cascade stages


def _type_names(node, path: str) -> Iterable[Tuple[str, str]]:
    """(config key, type name) of every ``MODELS`` component in a nested config."""
    if isinstance(node, dict):
        value = node.get('type')
        if isinstance(value, str) and _is_model_component(path):
            yield path, value
        for key, child in node.items():
            yield from _type_names(child, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, child in enumerate(node):
            yield from _type_names(child, f'{path}.{i}')


def unknown_model_types(cfg: Config) -> List[str]:
    """Problems with ``type`` names in ``cfg.model`` that mmdet's ``MODELS`` cannot build."""
    import difflib

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    known = set(MODELS.module_dict)
    for child in MODELS.children.values():
        known |= set(child.module_dict)
    problems = []
    for key, name in _type_names(cfg.get('model', {}), 'model'):
        if '.' in name or name in known:  # scoped names ('mmpretrain.X') are left to mmengine
            continue
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.7)
        hint = f' Did you mean {" or ".join(repr(c) for c in close)}?' if close else ''
        problems.append(f'{key}.type={name!r} is not a registered model component.{hint}')
    return problems


def check_model_types(cfg: Config) -> None:
    """Raise ``KeyError`` naming every unknown ``type`` in the model config, with suggestions."""
    problems = unknown_model_types(cfg)
    if problems:
        raise KeyError('\n  '.join(['The config asks for components that do not exist:'] +
                                   problems + ['(Losses of this package need custom_imports='
                                               "dict(imports=['mmdet_droploss']) in the "
                                               'config.)']))


def preflight(cfg: Config, loaders: Sequence[str], tool: str) -> None:
    """Check dataset paths and model component types; exit with the message if one is wrong."""
    try:
        check_dataset_paths(cfg, loaders)
        check_model_types(cfg)
    except (DatasetPathError, KeyError) as err:
        sys.exit(f'{tool}: {err.args[0]}')


def build_runner(cfg: Config):
    """The runner the config asks for (mmengine's ``Runner`` unless ``runner_type``), its
    logger rid of the stack's notices (:mod:`mmdet_droploss.third_party_notices`)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from .third_party_notices import hide_logged_notices
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    hide_logged_notices(runner.logger)
    return runner


def run_or_exit(run: Callable[[], object], tool: str) -> None:
    """Run the runner's loop; a category mismatch found by its hook, or a checkpoint that cannot
    be loaded or resumed from (truncated, corrupt), ends with the message only."""
    from .compat.checkpoint_files import CheckpointReadError
    from .hooks import CategoryMismatchError
    try:
        run()
    except (CategoryMismatchError, CheckpointReadError) as err:
        sys.exit(f'{tool}: {err}')
