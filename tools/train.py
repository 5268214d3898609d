#!/usr/bin/env python
"""Train a detector from an mmdet config (mmdet's `tools/train.py` conventions).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--auto-scale-lr]
                                 [--cfg-options k=v ...]
    tools/dist_train.sh CONFIG NUM_PROCESSES [same options]

Runs on CPU with the gloo backend when no GPU is present (see mmdet_droploss.compat.distributed).
"""
import argparse

from mmdet_droploss.cli import (add_common_arguments, build_runner, export_local_rank,
                                load_config, preflight, resolve_load_from, run_or_exit)
from mmdet_droploss.compat.distributed import cuda_is_usable
from mmdet_droploss.third_party_notices import hide_third_party_notices


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision training (needs a CUDA GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by total batch / auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT (path, URL or model-zoo name), or from the latest checkpoint '
        'in the work dir when CKPT is omitted')
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def configure(cfg, args) -> None:
    """Apply the training flags to the config, failing early with a clear message."""
    if args.amp:
        if not cuda_is_usable():
            raise SystemExit('--amp needs a CUDA GPU: mmengine\'s AmpOptimWrapper does not run '
                             'on CPU. Drop --amp on this machine.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise SystemExit('--auto-scale-lr needs auto_scale_lr = dict(enable=False, '
                             'base_batch_size=...) in the config (the batch size its lr is for).')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = resolve_load_from(args.resume)
    else:
        cfg.load_from = resolve_load_from(cfg.get('load_from'))


def main(argv=None) -> None:
    hide_third_party_notices()
    args = parse_args(argv)
    cfg = load_config(args)
    configure(cfg, args)
    loaders = ['train_dataloader']
    if cfg.get('val_cfg') and cfg.get('val_dataloader'):
        loaders.append('val_dataloader')
    preflight(cfg, loaders, 'train.py')
    runner = build_runner(cfg)
    run_or_exit(runner.train, 'train.py')


if __name__ == '__main__':
    main()
