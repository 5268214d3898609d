#!/usr/bin/env python
"""Scores a trained model gives each class on background proposals, per frequency group
(paper Fig. 1b).

    python tools/analyze_background_scores.py CONFIG CHECKPOINT [--out DIR] [--max-images N]
        [--categories lvis_v0.5|lvis_v1|FILE] [--cfg-options k=v ...]

Runs the model over the test set (``test_dataloader``; its pipeline is changed to load the
ground-truth boxes before resizing, so that they match the proposals); proposals whose IoU with
every ground-truth box is below 0.5 are background. Writes ``background_scores.json`` (per
group: mean score, histogram; per class: mean score) and ``background_scores.png`` (score
distribution per group) to ``--out`` and prints the per-group means. CHECKPOINT may be a path,
URL or zoo name.
"""
import argparse
import json
import os
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner, load_checkpoint  # noqa: E402

from mmdet_droploss.analysis.background_scores import (  # noqa: E402
    BIN_EDGES, BackgroundScores, pipeline_with_gt_boxes, proposal_scores)
from mmdet_droploss.categories import load_categories  # noqa: E402
from mmdet_droploss.cli import resolve_load_from  # noqa: E402
from mmdet_droploss.analysis import GROUP_NAMES  # noqa: E402
from mmdet_droploss.third_party_notices import hide_third_party_notices  # noqa: E402


def categories_of(cfg, model, override):
    if override:
        return load_categories(override)
    for module in model.modules():
        if hasattr(module, 'group_index') and hasattr(module, 'categories'):
            return load_categories(module.categories)
    dataset = cfg.test_dataloader.dataset
    return load_categories(osp.join(dataset.get('data_root', ''), dataset.ann_file))


def plot(summary: dict, out_file: str, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    centres = np.sqrt(np.maximum(BIN_EDGES[:-1], 1e-7) * BIN_EDGES[1:])
    for group, stats in summary['groups'].items():
        hist = np.asarray(stats['histogram'], dtype=float)
        if hist.sum() == 0:
            continue
        ax.plot(centres, hist / hist.sum(), label=f"{GROUP_NAMES[group]} (mean "
                f"{stats['mean_score']:.2e})")
    ax.set_xscale('log')
    ax.set_xlabel('predicted class score on background proposals')
    ax.set_ylabel('fraction of (proposal, class) pairs')
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    hide_third_party_notices()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', default='work_dirs/analysis')
    parser.add_argument('--max-images', type=int, default=None)
    parser.add_argument('--categories', help='frequency metadata (default: the loss\'s, else '
                        'the test annotation file)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(cfg.model)
    load_checkpoint(model, resolve_load_from(args.checkpoint), map_location='cpu')
    model.to(args.device).eval()
    info = categories_of(cfg, model, args.categories)
    stats = BackgroundScores(group_index=info.group_index().numpy())
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:  # dataset wrappers
        dataset = dataset.dataset
    dataset.pipeline = pipeline_with_gt_boxes(dataset.pipeline)
    loader = Runner.build_dataloader(cfg.test_dataloader)
    seen = 0
    for data in loader:
        for probs, ious in proposal_scores(model, data):
            stats.add(probs, ious)
            seen += 1
        if args.max_images is not None and seen >= args.max_images:
            break
    summary = dict(stats.summary(), images=seen, config=args.config,
                   checkpoint=args.checkpoint, class_names=list(info.names))
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'background_scores.json'), 'w') as f:
        json.dump(summary, f)
    plot(summary, osp.join(args.out, 'background_scores.png'),
         f'{osp.basename(args.config)}: {seen} images, '
         f"{summary['num_background_proposals']} background proposals")
    print('| group | classes | mean score on background proposals |\n|---|---|---|')
    for group, s in summary['groups'].items():
        mean = 'n/a' if s['mean_score'] is None else f"{s['mean_score']:.3e}"
        print(f"| {GROUP_NAMES[group]} | {s['num_classes']} | {mean} |")
    print(f'wrote background_scores.json and background_scores.png to {args.out}')


if __name__ == '__main__':
    main()
