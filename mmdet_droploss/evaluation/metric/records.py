"""One image's record: what ``FastLVISMetric`` keeps of a data sample while the model runs.

A record is a dict with ``img_id`` and numpy ``bboxes`` (x1, y1, x2, y2), ``scores`` and
``labels`` (indices into the sorted category ids), plus ``masks`` (RLE dicts) and
``mask_scores`` when the model gives them. Each record first feeds AP-Fixed's per-class budget
(all its detections: that budget has no per-image cap), then is cut to what standard AP
evaluates, the image's 300 best, with its masks packed into one byte buffer
(``columns/detection_arrays.PackedRLE``: a fraction of the dicts' memory and pickle), by the
per-image ranking every cut uses (``protocol/ranking.py``). :func:`write_results` writes
result dicts as mmdet does.
"""
from __future__ import annotations

import json
from typing import List, Optional, Tuple

import numpy as np
from mmdet.structures.mask import encode_mask_results

from ..columns.detection_arrays import packed
from ..protocol.ranking import MAX_DETS_PER_IMAGE, top_k_per_group


def sample_record(sample: dict) -> dict:
    """The record of one mmdet data sample: boxes and scores on the CPU, masks as RLE."""
    pred = sample['pred_instances']
    record = dict(img_id=sample['img_id'],
                  bboxes=pred['bboxes'].cpu().numpy(),
                  scores=pred['scores'].cpu().numpy(),
                  labels=pred['labels'].cpu().numpy())
    if 'masks' in pred:
        record['masks'] = encode_mask_results(pred['masks'].detach().cpu().numpy())
    if 'mask_scores' in pred:
        record['mask_scores'] = pred['mask_scores'].cpu().numpy()
    return record


def budget_inputs(record: dict, iou_type: str) -> Optional[Tuple]:
    """What the per-class budget of ``iou_type`` takes of a record: (labels, scores, boxes or
    masks); ``None`` for segm when the record has no masks."""
    if iou_type == 'bbox':
        return record['labels'], record['scores'], record['bboxes']
    if 'masks' in record:
        return record['labels'], record.get('mask_scores', record['scores']), record['masks']
    return None


def cap_record(record: dict) -> None:
    """Cut a record, in place, to the image's 300 best (standard AP keeps no more; not with
    ``mask_scores``, whose ranking is the masks') and pack its masks."""
    scores = record['scores']
    if len(scores) > MAX_DETS_PER_IMAGE and 'mask_scores' not in record:
        keep = top_k_per_group(np.zeros(len(scores), np.int64), scores, MAX_DETS_PER_IMAGE)
        for key in ('bboxes', 'scores', 'labels'):
            record[key] = record[key][keep]
        if 'masks' in record:
            record['masks'] = [record['masks'][i] for i in keep.tolist()]
    if 'masks' in record:
        record['masks'] = packed(record['masks'])


def write_results(detections: List[dict], path: str) -> None:
    """A results file, as mmdet writes it (C encoder: ``json.dump`` to a file is pure Python)."""
    with open(path, 'w') as f:
        f.write(json.dumps(detections))


__all__ = ['budget_inputs', 'cap_record', 'sample_record', 'write_results']
