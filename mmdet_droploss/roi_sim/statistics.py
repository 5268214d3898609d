"""The simulated data's statistics beside LVIS's (the report's "generator against LVIS")."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from .sampler import positives_per_image

#: mmdet's RandomSampler on LVIS: 512 RoIs an image, at most a quarter positive; the 1x
#: schedule's epochs (v1)
LVIS_ROIS_PER_IMAGE, LVIS_MAX_POSITIVES, LVIS_EPOCHS = 512, 128, 12


def generator_statistics(data, spec) -> List[Tuple[str, str, str]]:
    """(statistic, LVIS, simulator) rows."""
    counts, train, val = data.counts, data.train_images, data.val
    rare = counts.group_index == 0
    n = counts.num_train_images
    cats_per_img = np.diff(train.pair_offsets)
    inst_per_img = np.diff(train.instance_offsets)
    n_pos = positives_per_image(spec)
    # expected positive RoIs an instance gets over the schedule (without RFS): each visit of
    # its image draws n_pos positives uniformly over the image's instances
    visits = spec.epochs * n_pos / inst_per_img[train.instance_image]
    rare_inst = rare[train.instance_category]
    lvis_cats, lvis_inst = counts.image_count.sum() / n, counts.instance_count.sum() / n
    val_imgs = val.images.images_per_category()
    kinds = np.bincount(val.proposal_kind, minlength=4)
    return [
        ('categories (rare / common / frequent)',
         f'{counts.num_classes} ({(counts.group_index == 0).sum()} / '
         f'{(counts.group_index == 1).sum()} / {(counts.group_index == 2).sum()})', 'same'),
        ('training images', f'{n:,}', f'{train.num_images:,}'),
        ('training images per category: largest difference to the metadata', '0',
         str(int(np.abs(train.images_per_category() - counts.image_count).max()))),
        ('annotations per category: largest difference to the metadata', '0',
         str(int(np.abs(train.instances_per_category() - counts.instance_count).max()))),
        ('categories per training image, mean', f'{lvis_cats:.2f}',
         f'{cats_per_img.mean():.2f} (median {np.median(cats_per_img):.0f}, '
         f'max {cats_per_img.max()})'),
        ('annotations per training image, mean', f'{lvis_inst:.2f}',
         f'{inst_per_img.mean():.2f} (median {np.median(inst_per_img):.0f}, '
         f'max {inst_per_img.max()})'),
        ('training images per annotating image of a rare category, median',
         f'{np.median(n / counts.image_count[rare]):,.0f}',
         f'{np.median(train.num_images / train.images_per_category()[rare]):,.0f}'),
        ('RoIs per training image (positives)',
         f'{LVIS_ROIS_PER_IMAGE} (up to {LVIS_MAX_POSITIVES})',
         f'{spec.rois_per_image} ({n_pos}): scaled, positive fraction kept'),
        ('positive RoIs per rare instance over the schedule, mean (no RFS)',
         f'up to {LVIS_EPOCHS * LVIS_MAX_POSITIVES / lvis_inst:.0f} (12 epochs, all '
         f'{LVIS_MAX_POSITIVES} positives used)', f'{visits[rare_inst].mean():.2f}'),
        ('background RoIs: clutter / near-miss / unannotated object', 'not published',
         f'{1 - spec.near_miss_share - spec.unannotated_share:.0%} / '
         f'{spec.near_miss_share:.0%} / {spec.unannotated_share:.0%} (drawn)'),
        ('validation images', '19,809 (v1) / 5,000 (v0.5)', f'{val.images.num_images:,}'),
        ('validation images per category, min / median',
         'not in the shipped metadata', f'{val_imgs.min()} / {np.median(val_imgs):.0f}'),
        ('validation annotations', '244,707 (v1)', f'{len(val.images.instance_category):,}'),
        ('negative / not-exhaustive (image, category) pairs', 'per LVIS rules',
         f'{len(val.neg_pairs):,} / {len(val.not_exhaustive_pairs):,}'),
        ('proposals scored per validation image: objects / background',
         '1,000 RPN proposals', f'{kinds[0] / val.images.num_images:.1f} / '
         f'{kinds[1:].sum() / val.images.num_images:.1f}'),
    ]


def statistics_table(rows: List[Tuple[str, str, str]]) -> str:
    lines = ['| statistic | LVIS | simulator |', '|---|---|---|']
    lines += [f'| {a} | {b} | {c} |' for a, b, c in rows]
    return '\n'.join(lines)
