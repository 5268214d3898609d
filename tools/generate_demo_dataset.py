#!/usr/bin/env python
"""Write the built-in synthetic long-tailed LVIS-format dataset (the demo's default data).

    python tools/generate_demo_dataset.py [--out data/demo_lvis] [--seed 0]
    python tools/generate_demo_dataset.py --lvis-regime [--out data/lvis_regime]

``--lvis-regime`` writes the loss benchmark's set instead (60 categories, LVIS's federated
annotation; see mmdet_droploss/datasets/lvis_regime.py and docs/benchmark.md).

The output is deterministic. The demo configs read it from ``data/demo_lvis/`` or from
``$MMDET_DROPLOSS_DEMO_DATA``.
"""
import argparse
import json
import os

from mmdet_droploss.datasets import (LVISRegimeSpec, SyntheticLVISSpec, generate_lvis_regime,
                                     generate_synthetic_lvis)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', help='output directory (default: $MMDET_DROPLOSS_DEMO_DATA or '
                        'data/demo_lvis; with --lvis-regime, $MMDET_DROPLOSS_BENCH_DATA or '
                        'data/lvis_regime)')
    parser.add_argument('--lvis-regime', action='store_true',
                        help="the loss benchmark's LVIS-regime set (its own sizes; --seed applies)")
    parser.add_argument('--train-images', type=int, default=SyntheticLVISSpec.num_train_images)
    parser.add_argument('--val-images', type=int, default=SyntheticLVISSpec.num_val_images)
    parser.add_argument('--seed', type=int, default=SyntheticLVISSpec.seed)
    args = parser.parse_args(argv)
    if args.lvis_regime:
        spec = LVISRegimeSpec(seed=args.seed)
        out = args.out or os.environ.get('MMDET_DROPLOSS_BENCH_DATA', 'data/lvis_regime')
        paths = generate_lvis_regime(out, spec)
    else:
        spec = SyntheticLVISSpec(num_train_images=args.train_images,
                                 num_val_images=args.val_images, seed=args.seed)
        out = args.out or os.environ.get('MMDET_DROPLOSS_DEMO_DATA', 'data/demo_lvis')
        paths = generate_synthetic_lvis(out, spec)
    with open(paths['train_ann']) as f:
        categories = json.load(f)['categories']
    groups = {g: sum(c['frequency'] == g for c in categories) for g in 'rcf'}
    print(f"Wrote {spec.num_train_images} train / {spec.num_val_images} val images, "
          f"{len(categories)} categories (rare {groups['r']}, common {groups['c']}, "
          f"frequent {groups['f']}) to {paths['root']}")


if __name__ == '__main__':
    main()
