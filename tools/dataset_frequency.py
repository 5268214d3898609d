#!/usr/bin/env python
"""Write the category-frequency file of an LVIS/COCO-format dataset.

The file is what the losses' ``categories=`` argument takes: per category its id, name, LVIS
frequency group and the number of training images that contain it (counted from the
annotations). Example::

    python tools/dataset_frequency.py data/my_set/annotations/train.json -o data/my_set/frequency.json
"""
import argparse
import json
import sys
from collections import Counter

from mmdet_droploss.categories import frequency_file_from_annotations


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('annotations', help='LVIS/COCO-format annotation JSON of the training set')
    parser.add_argument('-o', '--out', required=True, help='output frequency file (.json)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        with open(args.annotations, encoding='utf-8') as f:
            ann = json.load(f)
        freq = frequency_file_from_annotations(ann)
    except (OSError, ValueError) as err:
        print(f'error: {args.annotations}: {err}', file=sys.stderr)
        return 1
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(freq, f, indent=1)
    groups = Counter(c['frequency'] for c in freq['categories'])
    print(f'{args.out}: {len(freq["categories"])} categories (r/c/f = {groups["r"]}/{groups["c"]}/{groups["f"]}), '
          f'{freq["num_train_images_with_annotations"]} images with annotations')
    return 0


if __name__ == '__main__':
    sys.exit(main())
