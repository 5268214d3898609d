#!/usr/bin/env python
"""Plot where the discouraging gradient comes from, per frequency group (paper Fig. 1a).

    python tools/plot_gradient_stats.py WORK_DIR_OR_JSON [--out FIG.png] [--head NAME]

Reads ``gradient_stats.json`` written by ``GradientStatsHook`` and draws, for rare, common and
frequent classes, the share of the negative (discouraging) gradient that background proposals
send, with the loss's weights (what the model was trained with) and without them (what plain
sigmoid BCE would have sent, the paper's Fig. 1a), and the background part per class with and
without the weights (what EQL/DropLoss remove). Prints the numbers.
"""
import argparse
import json
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mmdet_droploss.analysis import GROUP_NAMES  # noqa: E402


def load(path: str) -> dict:
    if osp.isdir(path):
        path = osp.join(path, 'gradient_stats.json')
    if not osp.isfile(path):
        raise SystemExit(f'{path} not found: train with custom_hooks=[dict(type='
                         "'GradientStatsHook')] to record gradient statistics.")
    with open(path) as f:
        return json.load(f)


def plot(stats: dict, head: str, out: str) -> None:
    summary = stats['heads'][head]['summary']
    groups = stats['groups']
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(groups))
    for offset, kind, label in ((-0.2, 'unweighted', 'without the loss weights (BCE)'),
                                (0.2, 'weighted', 'with the loss weights')):
        shares = [summary[kind][g]['background_share'] for g in groups]
        left.bar(x + offset, shares, width=0.4, label=label)
    left.set_xticks(x, [GROUP_NAMES[g] for g in groups])
    left.set_ylim(0, 1)
    left.set_ylabel('background share of the\ndiscouraging gradient')
    left.legend(fontsize=8)
    counts = np.bincount(stats['group_index'], minlength=len(groups)).clip(min=1)
    for offset, kind, label in ((-0.2, 'unweighted', 'without the loss weights (BCE)'),
                                (0.2, 'weighted', 'with the loss weights')):
        per_class = [summary[kind][g]['negative_background'] / n for g, n in zip(groups, counts)]
        right.bar(x + offset, per_class, width=0.4, label=label)
    right.set_xticks(x, [GROUP_NAMES[g] for g in groups])
    right.set_ylabel('discouraging gradient from background\nper class (summed over steps)')
    right.legend(fontsize=8)
    fig.suptitle(f'{head}, {stats["iter"]} iterations')
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('path', help='work dir or gradient_stats.json')
    parser.add_argument('--out', help='figure file (default: <work_dir>/gradient_stats.png)')
    parser.add_argument('--head', help='which bbox head (default: the first one)')
    args = parser.parse_args(argv)
    stats = load(args.path)
    head = args.head or sorted(stats['heads'])[0]
    if head not in stats['heads']:
        raise SystemExit(f'--head {head!r}: not in {sorted(stats["heads"])}')
    base = args.path if osp.isdir(args.path) else osp.dirname(args.path)
    out = args.out or osp.join(base, 'gradient_stats.png')
    plot(stats, head, out)
    summary = stats['heads'][head]['summary']
    print('| group | background share (weighted) | background share (BCE) |\n|---|---|---|')
    for g in stats['groups']:
        print(f"| {GROUP_NAMES[g]} | {summary['weighted'][g]['background_share']:.3f} | "
              f"{summary['unweighted'][g]['background_share']:.3f} |")
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
