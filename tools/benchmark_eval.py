#!/usr/bin/env python
"""LVIS evaluation with the ``lvis`` package and with faster-coco-eval, side by side.

    # your own results (the .bbox.json / .segm.json that tools/test.py writes with
    # --cfg-options test_evaluator.outfile_prefix=work_dirs/x/results)
    python tools/benchmark_eval.py --ann data/lvis_v1/annotations/lvis_v1_val.json \\
        --results work_dirs/x/results.bbox.json work_dirs/x/results.segm.json
    # a generated LVIS-format set (default: 1000 images, 100 detections per image)
    python tools/benchmark_eval.py --generate [--num-images 1000] [--dets-per-image 100]

For each results file: the wall time of each backend (ground-truth loading excluded, result
loading included), the speed-up, and every metric of both with the largest difference.
"""
import argparse
import contextlib
import io
import json
import os.path as osp
import tempfile
import time
from typing import Dict, List, Tuple

import numpy as np

from mmdet_droploss.evaluation import evaluate, load_ground_truth
from mmdet_droploss.evaluation.lvis_backends import ground_truth_ids

METRICS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf', 'AR@300',
           'ARs@300', 'ARm@300', 'ARl@300')


def generate(out_dir: str, num_images: int, dets_per_image: int, seed: int = 0
             ) -> Tuple[str, List[str]]:
    """An LVIS-format val set and bbox/segm results for it: jittered true boxes (some with the
    wrong class) plus random false positives, masks as RLE boxes."""
    import pycocotools.mask as mask_utils

    from mmdet_droploss.datasets import SyntheticLVISSpec, generate_synthetic_lvis
    spec = SyntheticLVISSpec(num_train_images=max(200, num_images // 4),
                             num_val_images=num_images, seed=seed)
    paths = generate_synthetic_lvis(out_dir, spec, write_images=False)
    with open(paths['val_ann']) as f:
        gt = json.load(f)
    rng = np.random.default_rng(seed)
    size = spec.image_size
    num_classes = len(gt['categories'])
    by_image: Dict[int, list] = {}
    for ann in gt['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    bbox_dets, segm_dets = [], []
    for img in gt['images']:
        boxes, cats = [], []
        for ann in by_image.get(img['id'], []):
            x, y, w, h = ann['bbox']
            for k in range(3):
                j = rng.normal(0, 1.5, 4)
                boxes.append([x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])])
                cats.append(ann['category_id'] if k == 0 else int(rng.integers(1, num_classes + 1)))
        while len(boxes) < dets_per_image:
            x, y = rng.uniform(0, size - 24, 2)
            boxes.append([x, y, rng.uniform(4, 24), rng.uniform(4, 24)])
            cats.append(int(rng.integers(1, num_classes + 1)))
        scores = rng.random(len(boxes))
        for box, cat, score in zip(boxes[:dets_per_image], cats, scores):
            box = [float(v) for v in np.clip(box, 0, size - 1)]
            det = dict(image_id=img['id'], category_id=cat, bbox=box, score=float(score))
            bbox_dets.append(det)
            rle = mask_utils.frPyObjects(np.array([box]), size, size)[0]
            rle['counts'] = rle['counts'].decode()
            segm_dets.append(dict(det, segmentation=rle))
    files = []
    for iou_type, dets in (('bbox', bbox_dets), ('segm', segm_dets)):
        path = osp.join(out_dir, f'results.{iou_type}.json')
        with open(path, 'w') as f:
            json.dump(dets, f)
        files.append(path)
    return paths['val_ann'], files


def iou_type_of(path: str) -> str:
    for iou_type in ('segm', 'bbox'):
        if f'.{iou_type}.' in osp.basename(path) or osp.basename(path).startswith(iou_type):
            return iou_type
    raise SystemExit(f'{path}: cannot tell bbox from segm results; name it *.bbox.json or '
                     '*.segm.json (as tools/test.py does).')


def run(ann_file: str, result_files: List[str]) -> None:
    ground_truth = {b: load_ground_truth(ann_file, b) for b in ('lvis', 'faster_coco_eval')}
    _, img_ids = ground_truth_ids(ground_truth['lvis'], 'lvis')
    for path in result_files:
        iou_type = iou_type_of(path)
        with open(path) as f:
            detections = json.load(f)
        stats, seconds = {}, {}
        for backend in ('lvis', 'faster_coco_eval'):
            copy = json.loads(json.dumps(detections))  # both backends annotate the dicts
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the lvis package prints a table
                stats[backend] = evaluate(ground_truth[backend], copy, iou_type, img_ids,
                                          backend, print_fn=lambda *_: None).stats
            seconds[backend] = time.perf_counter() - start
        print(f'\n## {iou_type}: {len(img_ids)} images, {len(detections)} detections ({path})\n')
        print(f"| | lvis | faster-coco-eval | |\n|---|---|---|---|\n"
              f"| time (s) | {seconds['lvis']:.2f} | {seconds['faster_coco_eval']:.2f} | "
              f"{seconds['lvis'] / seconds['faster_coco_eval']:.1f}x faster |")
        worst = 0.0
        for name in METRICS:
            a, b = stats['lvis'][name], stats['faster_coco_eval'][name]
            worst = max(worst, abs(a - b))
            print(f'| {name} | {a:.4f} | {b:.4f} | diff {abs(a - b):.1e} |')
        print(f'\nlargest difference over {len(METRICS)} metrics: {worst:.1e}')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ann', help='LVIS annotation file of the evaluated split')
    parser.add_argument('--results', nargs='+', help='*.bbox.json / *.segm.json results files')
    parser.add_argument('--generate', action='store_true', help='benchmark on a generated set')
    parser.add_argument('--num-images', type=int, default=1000)
    parser.add_argument('--dets-per-image', type=int, default=100)
    args = parser.parse_args(argv)
    if args.generate:
        with tempfile.TemporaryDirectory() as tmp:
            print(f'Generating {args.num_images} images x {args.dets_per_image} detections...')
            ann, files = generate(tmp, args.num_images, args.dets_per_image)
            run(ann, files)
    elif args.ann and args.results:
        run(args.ann, args.results)
    else:
        parser.error('give --ann and --results, or --generate')


if __name__ == '__main__':
    main()
