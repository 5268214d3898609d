#!/usr/bin/env python
"""Evaluate a checkpoint (path, URL or model-zoo name) with an mmdet config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
                         [--show-dir DIR] [--cfg-options k=v ...]
    tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [same options]

The metrics (for LVIS: AP, AP50, AP75, APs/m/l, APr, APc, APf, AR for bbox and segm) are printed
and written to ``<work_dir>/<timestamp>/<timestamp>.json``.
"""
import argparse

from mmdet_droploss.cli import (add_common_arguments, build_runner, export_local_rank,
                                load_config, preflight, resolve_load_from, run_or_exit)
from mmdet_droploss.third_party_notices import hide_third_party_notices


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file, URL, or model-zoo name')
    parser.add_argument('--out', help='dump the raw predictions to this .pkl file')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='write drawn predictions under <work_dir>/<timestamp>/'
                        'SHOW_DIR')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds per shown image')
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def enable_visualization(cfg, args) -> None:
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise SystemExit('--show/--show-dir need default_hooks.visualization '
                         '(mmdet\'s DetVisualizationHook) in the config.')
    hook.draw = True
    if args.show:
        hook.show = True
        hook.wait_time = args.wait_time
    if args.show_dir:
        hook.test_out_dir = args.show_dir


def main(argv=None) -> None:
    hide_third_party_notices()
    args = parse_args(argv)
    cfg = load_config(args)
    cfg.load_from = resolve_load_from(args.checkpoint)
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise SystemExit(f'--out must be a .pkl file, got {args.out}')
    preflight(cfg, ['test_dataloader'], 'test.py')
    runner = build_runner(cfg)
    if args.out is not None:
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    run_or_exit(runner.test, 'test.py')


if __name__ == '__main__':
    main()
