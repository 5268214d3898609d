"""LVIS AP for mmdet configs, computed by faster-coco-eval (default) or the ``lvis`` package.

``FastLVISMetric`` is mmdet's ``LVISMetric`` with the evaluator made a choice: the same
arguments, result keys (``lvis/bbox_AP``, ..., ``lvis/segm_APf``) and printed table, plus
``bbox_AR``/``segm_AR`` (AR@300). faster-coco-eval's LVIS mode gives the same numbers as the
``lvis`` package several times faster (``tools/benchmark_eval.py`` shows both side by side).

``fixed_ap=K`` adds AP-Fixed (Dave et al. 2021: no per-image cap, the ``K`` best detections of
each category over the dataset; ``fixed_ap.py``) as ``<type>_AP_fixed``, ``<type>_APr_fixed``
...; ``pooled_ap=True`` adds AP-Pool (``pooled_ap.py``) as ``<type>_AP_pool``, ``_APr_pool``,
``_APc_pool``, ``_APf_pool``. Both are fed by a per-class budget filled as results stream in.

Distributed evaluation works as with every mmengine metric: each process collects its
predictions in :meth:`process`, mmengine gathers them, and only rank 0 loads the ground truth
(lazily, at the first evaluation) and computes the metrics.
"""
from __future__ import annotations

import gc
import itertools
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import MMLogger
from terminaltables import AsciiTable

from mmdet.evaluation.metrics import LVISMetric
from mmdet.registry import METRICS
from mmdet.structures.mask import encode_mask_results

from .fixed_ap import DEFAULT_DETS_PER_CLASS, PerClassTopK, evaluate_fixed
from .lvis_backends import (BACKENDS, MAX_DETS_PER_IMAGE, LVISEvaluation, check_backend,
                            evaluate, ground_truth_ids, load_ground_truth)
from .pooled_ap import evaluate_pooled
from .result_records import records_to_detections, write_results

DEFAULT_ITEMS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf', 'AR')
# metric item -> name of the statistic in the evaluation results
_STAT_NAMES = {'AR': 'AR@300', 'ARs': 'ARs@300', 'ARm': 'ARm@300', 'ARl': 'ARl@300'}


@METRICS.register_module()
class FastLVISMetric(LVISMetric):
    """LVIS bbox/segm AP with a choice of evaluator.

    Args:
        ann_file (str): The LVIS annotation file of the evaluated split (required: LVIS's
            frequency groups and federated labels live there).
        metric (str | list[str]): ``'bbox'`` and/or ``'segm'``.
        classwise (bool): Also log and return per-category AP.
        metric_items (Sequence[str], optional): Which of ``AP, AP50, AP75, APs, APm, APl, APr,
            APc, APf, AR, ARs, ARm, ARl`` to return; all but ``ARs/m/l`` by default.
        format_only (bool): Only write the result files (``outfile_prefix`` required).
        outfile_prefix (str, optional): Where to write ``<prefix>.bbox.json`` etc.
        backend (str): ``'faster_coco_eval'`` (default) or ``'lvis'`` (the reference package).
        fixed_ap (int | bool, optional): Also report AP-Fixed with this many detections per
            category (``True``: the paper's 10,000). Feed it with a test config that lifts the
            per-image cap (``configs/_base_/ap_fixed_test.py``).
        pooled_ap (bool): Also report AP-Pool, over the same per-class budget (10,000 unless
            ``fixed_ap`` sets it).
        collect_device, prefix, backend_args: as mmdet's ``LVISMetric``.
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 metric: Union[str, List[str]] = 'bbox',
                 classwise: bool = False,
                 metric_items: Optional[Sequence[str]] = None,
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 backend: str = 'faster_coco_eval',
                 fixed_ap: Union[int, bool, None] = None,
                 pooled_ap: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        check_backend(backend)
        metrics = metric if isinstance(metric, list) else [metric]
        unsupported = [m for m in metrics if m not in ('bbox', 'segm')]
        if unsupported:
            raise KeyError(f'FastLVISMetric computes bbox and segm AP, not {unsupported}; '
                           "use mmdet's LVISMetric for proposal recall.")
        if ann_file is None:
            raise ValueError('FastLVISMetric needs ann_file: LVIS evaluation reads the frequency '
                             'groups and negative/not-exhaustive categories from it.')
        items = list(metric_items) if metric_items is not None else list(DEFAULT_ITEMS)
        known = set(DEFAULT_ITEMS) | set(_STAT_NAMES)
        if not set(items) <= known:
            raise KeyError(f'metric_items {sorted(set(items) - known)} unknown; choose from '
                           f'{sorted(known)}.')
        # The ground truth is loaded lazily, on the rank that computes the metrics only.
        super().__init__(ann_file=None, metric=metrics, classwise=classwise,
                         metric_items=items, format_only=format_only,
                         outfile_prefix=outfile_prefix, collect_device=collect_device,
                         prefix=prefix, backend_args=backend_args, **kwargs)
        self.ann_file = ann_file
        self.backend = backend
        self._ground_truth = None
        if fixed_ap is True or (pooled_ap and not fixed_ap):
            budget = DEFAULT_DETS_PER_CLASS
        elif fixed_ap is False or fixed_ap is None:
            budget = None
        else:
            budget = fixed_ap
        PerClassTopK(budget or 1)  # a bad budget fails here, naming the problem
        self.fixed_ap, self.pooled_ap = bool(fixed_ap), bool(pooled_ap)
        self.dets_per_class = budget
        self._budgets: Dict[str, PerClassTopK] = {}
        self._merged: Dict[str, PerClassTopK] = {}
        self._reset_budgets()

    def _reset_budgets(self) -> None:
        if self.dets_per_class:
            self._budgets = {t: PerClassTopK(self.dets_per_class) for t in self.metrics}

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each image's predictions, boxes and scores on the CPU and masks as RLE."""
        for sample in data_samples:
            pred = sample['pred_instances']
            result = dict(img_id=sample['img_id'],
                          bboxes=pred['bboxes'].cpu().numpy(),
                          scores=pred['scores'].cpu().numpy(),
                          labels=pred['labels'].cpu().numpy())
            if 'masks' in pred:
                result['masks'] = encode_mask_results(pred['masks'].detach().cpu().numpy())
            if 'mask_scores' in pred:
                result['mask_scores'] = pred['mask_scores'].cpu().numpy()
            self.add_record(result)

    def add_record(self, result: dict) -> None:
        """Keep one image's record (numpy boxes, scores, labels, RLE masks): into the per-class
        budgets, and its 300 best for standard AP."""
        for iou_type, budget in self._budgets.items():
            if iou_type == 'bbox':
                budget.add(result['img_id'], result['labels'], result['scores'],
                           result['bboxes'])
            elif 'masks' in result:
                budget.add(result['img_id'], result['labels'],
                           result.get('mask_scores', result['scores']), result['masks'])
        scores = result['scores']
        if len(scores) > MAX_DETS_PER_IMAGE and 'mask_scores' not in result:
            # standard AP keeps an image's 300 best: drop the rest now (cap lifted for AP-Fixed)
            keep = np.sort(np.argsort(-scores, kind='stable')[:MAX_DETS_PER_IMAGE])
            for key in ('bboxes', 'scores', 'labels'):
                result[key] = result[key][keep]
            if 'masks' in result:
                result['masks'] = [result['masks'][i] for i in keep.tolist()]
        self.results.append((dict(img_id=result['img_id']), result))

    def gather_budgets(self) -> None:
        """Merge the per-class budgets of every process on rank 0 (for compute_metrics)."""
        from mmengine.dist import collect_results, get_world_size, is_main_process
        states = [{t: b.state() for t, b in self._budgets.items()}]
        kwargs = {}
        if self.collect_device == 'cpu':
            kwargs['tmpdir'] = getattr(self, 'collect_dir', None)
        gathered = collect_results(states, get_world_size(), self.collect_device, **kwargs)
        if is_main_process():
            self._merged = {t: PerClassTopK.merge(self.dets_per_class, [g[t] for g in gathered])
                            for t in self._budgets}
        self._reset_budgets()

    def evaluate(self, size: int) -> dict:
        """Gather the per-class budgets of every process, then mmengine's evaluation."""
        if self._budgets:
            self.gather_budgets()
        try:
            return super().evaluate(size)
        finally:
            self._merged = {}

    def _load_ground_truth(self) -> None:
        if self._ground_truth is not None:
            return
        from mmengine.fileio import get_local_path
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            self._ground_truth = load_ground_truth(local_path, self.backend)
        self.cat_ids, self.img_ids = ground_truth_ids(self._ground_truth, self.backend)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        # Evaluation builds millions of small acyclic objects (result dicts, per-image state);
        # Python's cyclic collector would rescan all of them again and again as they are made
        # (it took 5 of 9 s at 500 LVIS-like images here). Reference counting still frees them.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._compute_metrics(results)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _compute_metrics(self, results: list) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        self._load_ground_truth()
        _, preds = zip(*results)
        eval_results: Dict[str, float] = OrderedDict()
        for iou_type in self.metrics:  # one type's result dicts in memory at a time
            detections = records_to_detections(preds, self.cat_ids, iou_type)
            if self.outfile_prefix is not None:  # the files mmdet's metric writes
                write_results(detections, f'{self.outfile_prefix}.{iou_type}.json')
            if self.format_only:
                continue
            logger.info(f'Evaluating {iou_type} with {self.backend}...')
            if not detections:
                logger.info('The testing results of the whole dataset is empty.')
                break
            outcome = evaluate(self._ground_truth, detections, iou_type, self.img_ids,
                               self.backend, print_fn=logger.info)
            del detections
            for item in self.metric_items:
                value = outcome.stats[_STAT_NAMES.get(item, item)]
                eval_results[f'{iou_type}_{item}'] = round(float(value), 3)
            if self.classwise:
                eval_results.update(self._classwise(outcome, iou_type, logger))
            eval_results.update(self._fixed_and_pooled(iou_type, logger))
        if self.format_only:
            logger.info(f'results are saved in {osp.dirname(self.outfile_prefix)}')
        return eval_results

    def _fixed_and_pooled(self, iou_type: str, logger) -> Dict[str, float]:
        """AP-Fixed and AP-Pool over the merged per-class budget (``<type>_AP_fixed``, ...)."""
        values: Dict[str, float] = {}
        if iou_type not in self._merged:
            return values
        detections = self._merged[iou_type].detections  # fresh dicts for each evaluation
        if self.fixed_ap:
            logger.info(f'AP-Fixed ({iou_type}, {self.dets_per_class} detections per category, '
                        'no per-image cap):')
            stats = evaluate_fixed(self._ground_truth, detections(self.cat_ids), iou_type,
                                   self.img_ids, self.backend, k=None,
                                   print_fn=logger.info).stats
            for item in self.metric_items:
                if item.startswith('AP'):
                    values[f'{iou_type}_{item}_fixed'] = round(float(stats[item]), 3)
        if self.pooled_ap:
            stats = evaluate_pooled(self._ground_truth.dataset, detections(self.cat_ids),
                                    iou_type, self.backend, print_fn=lambda *_: None)
            logger.info(f'AP-Pool ({iou_type}): ' + '  '.join(
                f'{k} {v:.3f}' for k, v in stats.items()))
            values.update({f'{iou_type}_{k}': round(v, 3) for k, v in stats.items()})
        return values

    def _classwise(self, outcome: LVISEvaluation, iou_type: str, logger) -> Dict[str, float]:
        """Per-category AP (all IoUs, all areas), as a table and as ``<name>_precision``."""
        precision = outcome.precision[:, :, :, 0]
        names = self._category_names(outcome.cat_ids)
        rows, values = [], {}
        for k, name in enumerate(names):
            p = precision[:, :, k]
            p = p[p > -1]
            ap = float(np.mean(p)) if p.size else float('nan')
            rows.append((name, f'{ap:0.3f}'))
            values[f'{name}_precision'] = round(ap, 3)
        num_columns = min(6, len(rows) * 2)
        flat = list(itertools.chain(*rows))
        table = [['category', 'AP'] * (num_columns // 2)]
        table += list(itertools.zip_longest(*[flat[i::num_columns] for i in range(num_columns)]))
        logger.info(f'{iou_type} AP per category\n' + AsciiTable(table).table)
        return values

    def _category_names(self, cat_ids: Sequence[int]) -> List[str]:
        gt = self._ground_truth
        cats = gt.load_cats(cat_ids) if self.backend == 'lvis' else gt.loadCats(cat_ids)
        return [c['name'] for c in cats]


__all__ = ['FastLVISMetric', 'BACKENDS']
