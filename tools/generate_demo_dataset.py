#!/usr/bin/env python
"""Write the built-in synthetic long-tailed LVIS-format dataset (the demo's default data).

    python tools/generate_demo_dataset.py [--out data/demo_lvis] [--seed 0]

The output is deterministic. The demo configs read it from ``data/demo_lvis/`` or from
``$MMDET_DROPLOSS_DEMO_DATA``.
"""
import argparse
import json
import os

from mmdet_droploss.datasets import SyntheticLVISSpec, generate_synthetic_lvis


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=os.environ.get('MMDET_DROPLOSS_DEMO_DATA',
                                                        'data/demo_lvis'))
    parser.add_argument('--train-images', type=int, default=SyntheticLVISSpec.num_train_images)
    parser.add_argument('--val-images', type=int, default=SyntheticLVISSpec.num_val_images)
    parser.add_argument('--seed', type=int, default=SyntheticLVISSpec.seed)
    args = parser.parse_args(argv)
    spec = SyntheticLVISSpec(num_train_images=args.train_images,
                             num_val_images=args.val_images, seed=args.seed)
    paths = generate_synthetic_lvis(args.out, spec)
    with open(paths['train_ann']) as f:
        categories = json.load(f)['categories']
    groups = {g: sum(c['frequency'] == g for c in categories) for g in 'rcf'}
    print(f"Wrote {spec.num_train_images} train / {spec.num_val_images} val images, "
          f"{len(categories)} categories (rare {groups['r']}, common {groups['c']}, "
          f"frequent {groups['f']}) to {paths['root']}")


if __name__ == '__main__':
    main()
