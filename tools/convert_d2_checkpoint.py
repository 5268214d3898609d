#!/usr/bin/env python
"""Convert a detectron2 Mask R-CNN R50/R101-FPN checkpoint to an MMDetection checkpoint.

Made for the models released with the EQL / DropLoss detectron2 code bases (sigmoid head with C
logits); detectron2's softmax head (C + 1 logits) converts as well. The key mapping is in
``mmdet_droploss/model_zoo/d2_convert.py`` and docs/model_zoo.md. Example::

    python tools/convert_d2_checkpoint.py model_final.pth work_dirs/eql_r50.pth \\
        --config configs/eql/mask_rcnn_r50_lvis.py --write-config work_dirs/eql_r50_d2.py
    python tools/test.py work_dirs/eql_r50_d2.py work_dirs/eql_r50.pth

With ``--config`` the result is checked against the model that config builds (every key present,
every shape equal). ``--write-config`` writes a config inheriting ``--config`` with what the
weights need and shapes cannot check: a caffe-style ResNet (stride in the 1x1 conv) and
detectron2's BGR pixel normalisation. The source is loaded with ``weights_only=True`` (``.pth``)
or an arrays-only unpickler (``.pkl``). Exit status 1 (and no output written) on unknown or
missing keys or shape mismatches.
"""
import argparse
import os
import sys
from typing import List, Optional

import torch

from mmdet_droploss.model_zoo import (compare_shapes, convert_d2_state_dict, derived_config,
                                      load_d2_checkpoint, sha256sum)
from mmdet_droploss.third_party_notices import hide_third_party_notices


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='detectron2 checkpoint (.pth or .pkl)')
    parser.add_argument('out', help='output MMDetection checkpoint (.pth)')
    parser.add_argument('--config', help='MMDetection config the weights are for: checks keys and '
                        'shapes against the model it builds')
    parser.add_argument('--write-config', metavar='PATH',
                        help='write a config inheriting --config set up for these weights')
    parser.add_argument('--allow-unknown', action='store_true',
                        help='drop source keys that have no mapping instead of failing')
    args = parser.parse_args(argv)
    if args.write_config and not args.config:
        parser.error('--write-config needs --config (the config to inherit from)')
    return args


def reference_state_dict(config: str) -> dict:
    """State dict of the model ``config`` builds (CPU, no pretrained download)."""
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model).state_dict()


def _report(title: str, items: List[str], limit: int = 20) -> None:
    if items:
        print(f'{title} ({len(items)}):', file=sys.stderr)
        for item in items[:limit]:
            print(f'    {item}', file=sys.stderr)
        if len(items) > limit:
            print(f'    ... and {len(items) - limit} more', file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    hide_third_party_notices()
    args = parse_args(argv)
    try:
        result = convert_d2_state_dict(load_d2_checkpoint(args.src))
    except (OSError, ValueError) as err:  # includes refused unsafe pickles
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 1
    print(f'{args.src}: ResNet-{result.depth or "?"} FPN Mask R-CNN, {result.head} head, '
          f'{result.num_classes} classes, {len(result.state_dict)} tensors')
    for note in result.notes:
        print(f'note: {note}')
    failed = bool(result.missing_keys) or (bool(result.unknown_keys) and not args.allow_unknown)
    _report('unknown source keys (not converted)', result.unknown_keys)
    _report('missing keys (not in the source)', result.missing_keys)
    if args.config:
        missing, unexpected, mismatched = compare_shapes(result.state_dict,
                                                         reference_state_dict(args.config))
        _report(f'keys of {args.config} not in the converted weights', missing)
        _report(f'converted keys not in {args.config}', unexpected)
        _report('shape mismatches', mismatched)
        failed = failed or bool(missing or unexpected or mismatched)
    if failed:
        print('error: conversion incomplete, nothing written (see above; --allow-unknown drops '
              'unknown source keys).', file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    meta = dict(converted_from=os.path.basename(args.src), converter='detectron2 -> mmdet '
                '(mmdet_droploss)', head=result.head, num_classes=result.num_classes,
                pixel_mean=list(result.pixel_mean), pixel_std=list(result.pixel_std),
                backbone_style='caffe')
    torch.save(dict(state_dict=result.state_dict, meta=meta), args.out)
    print(f'wrote {args.out} (sha256 {sha256sum(args.out)})')
    if args.write_config:
        with open(args.write_config, 'w', encoding='utf-8') as f:
            f.write(derived_config(os.path.abspath(args.config), result,
                                   os.path.abspath(args.out)))
        print(f'wrote {args.write_config}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
