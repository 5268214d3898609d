#!/usr/bin/env python
"""Download model-zoo checkpoints by name into the cache, verified by SHA-256.

Examples::

    python tools/download_checkpoint.py --list
    python tools/download_checkpoint.py mask-rcnn_r50_fpn_sample1e-3_ms-2x_lvis-v0.5
    MMDET_DROPLOSS_OFFLINE=1 python tools/download_checkpoint.py NAME   # cache only, no network

An interrupted download resumes when the command is run again. A file whose hash does not
match is deleted and the command fails. For each name, prints the verified checkpoint path and
the config to use it with (``tools/test.py CONFIG NAME`` also accepts the name directly).
Environment: MMDET_DROPLOSS_CHECKPOINTS (cache directory), MMDET_DROPLOSS_ZOO_INDEX (metafiles),
MMDET_DROPLOSS_OFFLINE.
"""
import argparse
import sys
from typing import List, Optional

from mmdet_droploss.model_zoo import (DownloadError, ZooIndexError, cache_dir,
                                      download_checkpoint, load_index)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('names', nargs='*', metavar='NAME', help='model-zoo names')
    parser.add_argument('--list', action='store_true', help='list the model zoo and exit')
    parser.add_argument('--cache-dir', help='cache directory (default: $MMDET_DROPLOSS_CHECKPOINTS '
                        'or ~/.cache/mmdet_droploss/checkpoints)')
    parser.add_argument('--offline', action='store_true', default=None,
                        help='use the cache only, never the network')
    parser.add_argument('--no-progress', dest='progress', action='store_false', default=None,
                        help='no progress bar')
    args = parser.parse_args(argv)
    if not args.list and not args.names:
        parser.error('give one or more NAMEs, or --list')
    return args


def list_models() -> None:
    index = load_index()
    directory = cache_dir()
    for entry in index.values():
        metrics = ', '.join(f'{k} {v}' for k, v in entry.metrics().items())
        cached = 'cached' if (directory / entry.file_name).exists() else 'not cached'
        print(f'{entry.name}\n    config:  {entry.config}\n    results: {metrics or "-"}\n'
              f'    weights: {entry.weights} (sha256 {entry.sha256}..., {cached})')
    print(f'{len(index)} models; cache: {directory}')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if args.list:
            list_models()
            return 0
        index = load_index()
        failed = 0
        for name in args.names:
            try:
                path = download_checkpoint(name, cache_dir=args.cache_dir,
                                           progress=args.progress, offline=args.offline)
            except (DownloadError, ZooIndexError) as err:
                print(f'error: {name}: {err}', file=sys.stderr)
                failed += 1
                continue
            entry = index[name[len('zoo://'):] if name.startswith('zoo://') else name]
            print(f'{entry.name}: {path} (sha256 verified: {entry.sha256}...)\n'
                  f'    config: {entry.config_path or "-"}')
        return 1 if failed else 0
    except ZooIndexError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
