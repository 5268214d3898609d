"""LVIS AP for mmdet configs, computed by faster-coco-eval (default) or the ``lvis`` package.

``FastLVISMetric`` is mmdet's ``LVISMetric`` with the evaluator made a choice: the same
arguments, result keys (``lvis/bbox_AP``, ..., ``lvis/segm_APf``) and printed table, plus
``bbox_AR``/``segm_AR`` (AR@300). faster-coco-eval's LVIS mode gives the same numbers as the
``lvis`` package several times faster (``tools/benchmark_eval.py`` shows both side by side).

``fixed_ap=K`` adds AP-Fixed (Dave et al. 2021: no per-image cap, the ``K`` best detections of
each category over the dataset; ``fixed_ap.py``) as ``<type>_AP_fixed``, ``<type>_APr_fixed``
...; ``pooled_ap=True`` adds AP-Pool (``pooled_ap.py``) as ``<type>_AP_pool``, ``_APr_pool``,
``_APc_pool``, ``_APf_pool``. Both are fed by a per-class budget filled as results stream in.

Evaluation is split by category into shares (``shares.py``; exact: the shares' per-category
precision and recall joined are one evaluation's). In a distributed run every rank evaluates a
share: each process collects its predictions in :meth:`process`, mmengine gathers them on
rank 0, which alone loads the ground truth (lazily, at the first evaluation), applies the
per-image cap, hands each rank the detections and ground truth of its categories
(``parallel.py``), merges the shares' results and sends the metrics to every rank. In one
process, ``nproc=N`` evaluates the shares in this process and N - 1 worker processes.
"""
from __future__ import annotations

import gc
import os.path as osp
import time
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import MMLogger
from mmdet.evaluation.metrics import LVISMetric
from mmdet.registry import METRICS
from mmdet.structures.mask import encode_mask_results

from .detection_arrays import DetectionArrays, packed
from .fixed_ap import DEFAULT_DETS_PER_CLASS, PerClassTopK
from .lvis_backends import (BACKENDS, MAX_DETS_PER_IMAGE, category_frequencies, check_backend,
                            ground_truth_ids, load_ground_truth)
from .lvis_summary import category_ap, category_table, print_summary, summarize
from .parallel import Distributed, InProcess, ProcessPool, evaluate_on_every_rank, runner_for
from .pooled_ap import pooled_ap
from .result_records import records_to_arrays, write_results
from .shares import Merged, describe, make_tasks, merge, split_categories

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
        nproc (int, optional): How many processes evaluate (each a share of the categories;
            the numbers do not depend on it). Default: every rank in a distributed run (at
            most that many there), one process otherwise; ``N > 1`` in one process starts
            ``N - 1`` worker processes. Memory per process: ``docs/evaluation.md``.
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
                 nproc: Optional[int] = None,
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
        if nproc is not None and (not isinstance(nproc, int) or isinstance(nproc, bool) or
                                  nproc < 1):
            raise ValueError(f'nproc is the number of evaluating processes, a positive '
                             f'integer (or None: every rank, one process alone), got {nproc!r}.')
        self.nproc = nproc
        self._runner = None
        self._pool: Optional[ProcessPool] = None  # nproc > 1 in one process: kept across runs
        self._workers_started = False
        self.last_shares: Dict[str, List[dict]] = {}  # iou type -> each share's size and cost
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
        if not self._workers_started and (self.nproc or 1) > 1:
            self.start_workers(wait=False)
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
        if 'masks' in result:  # one byte buffer: a fraction of the dicts' memory and pickle
            result['masks'] = packed(result['masks'])
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
        """Gather the per-class budgets of every process, then evaluate: on every rank of a
        distributed run (each a share), else in this process (and ``nproc - 1`` workers)."""
        if self._budgets:
            self.gather_budgets()
        runner = self._make_runner()
        try:
            if isinstance(runner, Distributed):
                return evaluate_on_every_rank(self, size, runner)
            self._runner = runner
            try:
                return super().evaluate(size)
            finally:
                if runner is not self._pool:
                    runner.close()
        finally:
            self._merged, self._runner = {}, None

    def _make_runner(self):
        runner = runner_for(self.nproc, self.collect_device, getattr(self, 'collect_dir', None))
        if isinstance(runner, ProcessPool):  # kept for every later evaluation
            self._pool = self._pool or runner
            self._pool.start(wait=False)
            return self._pool
        return runner

    def start_workers(self, wait: bool = True) -> None:
        """Start the ``nproc - 1`` worker processes of a single-process run now (the first
        result does it, so that they start while the model runs); they serve every later
        evaluation. Nothing to do in a distributed run or with one process."""
        self._workers_started = True
        runner = self._make_runner()
        if runner is self._pool:
            runner.start(wait=wait)

    def _load_ground_truth(self) -> None:
        if self._ground_truth is not None:
            return
        from mmengine.fileio import get_local_path
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            self._ground_truth = load_ground_truth(local_path, self.backend)
        self.cat_ids, self.img_ids = ground_truth_ids(self._ground_truth, self.backend)
        self._frequencies = category_frequencies(self._ground_truth, self.cat_ids)
        anns = self._ground_truth.dataset['annotations']
        labels = np.searchsorted(self.cat_ids, np.fromiter(
            (a['category_id'] for a in anns), np.int64, len(anns)))
        self._gt_counts = np.bincount(labels, minlength=len(self.cat_ids))

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
        for iou_type in self.metrics:  # one type's detections in memory at a time
            detections = records_to_arrays(preds, self.cat_ids, iou_type)
            if self.outfile_prefix is not None:  # the files mmdet's metric writes
                write_results(detections.to_dicts(),
                              f'{self.outfile_prefix}.{iou_type}.json')
            if self.format_only:
                continue
            logger.info(f'Evaluating {iou_type} with {self.backend}...')
            if not len(detections):
                logger.info('The testing results of the whole dataset is empty.')
                break
            budget = self._merged.get(iou_type)
            budget = None if budget is None else budget.arrays(self.cat_ids)
            merged = self._evaluate_shares(iou_type, detections, budget, logger)
            del detections
            stats = summarize(*merged.standard, self._frequencies)
            print_summary(stats, MAX_DETS_PER_IMAGE, logger.info)
            for item in self.metric_items:
                eval_results[f'{iou_type}_{item}'] = round(stats[_STAT_NAMES.get(item, item)], 3)
            if self.classwise:
                eval_results.update(self._classwise(merged, iou_type, logger))
            eval_results.update(self._fixed_and_pooled(merged, iou_type, logger))
        if self.format_only:
            logger.info(f'results are saved in {osp.dirname(self.outfile_prefix)}')
        return eval_results

    def _evaluate_shares(self, iou_type: str, detections: DetectionArrays,
                         budget: Optional[DetectionArrays], logger) -> Merged:
        """Split by category (balanced by detections and ground truth), evaluate, merge."""
        runner = self._runner or InProcess(1)
        start = time.perf_counter()
        weights = self._gt_counts.copy()
        for arrays in (detections, budget):
            if arrays is not None:
                weights += np.bincount(np.searchsorted(self.cat_ids, arrays.cat_id),
                                       minlength=len(self.cat_ids))
        shares = split_categories(self.cat_ids, weights, runner.num_shares)
        tasks = make_tasks(iou_type, self.backend, self._ground_truth.dataset, detections,
                           budget, shares, self.fixed_ap, self.pooled_ap)
        prepared = time.perf_counter()
        results = runner.run(tasks)
        del tasks
        evaluated = time.perf_counter()
        merged = merge(results)
        logger.info(f'{iou_type}: evaluated by category in {len(results)} share(s): tasks '
                    f'{prepared - start:.2f} s, shares {evaluated - prepared:.2f} s, merge '
                    f'{time.perf_counter() - evaluated:.2f} s')
        where = [runner.where(r.index) for r in results]
        for line in describe(results, where):
            logger.info(f'  {line}')
        self.last_shares[iou_type] = [
            dict(where=w, categories=len(r.cat_ids), detections=r.num_detections,
                 seconds=r.seconds, cpu_seconds=r.cpu_seconds, peak_rss_gb=r.peak_rss_gb) for r, w in zip(results, where)]
        return merged

    def _fixed_and_pooled(self, merged: Merged, iou_type: str, logger) -> Dict[str, float]:
        """AP-Fixed and AP-Pool over the merged per-class budget (``<type>_AP_fixed``, ...)."""
        values: Dict[str, float] = {}
        if self.fixed_ap and merged.fixed is not None:
            logger.info(f'AP-Fixed ({iou_type}, {self.dets_per_class} detections per category, '
                        'no per-image cap):')
            stats = summarize(*merged.fixed, self._frequencies)
            print_summary(stats, -1, logger.info)
            for item in self.metric_items:
                if item.startswith('AP'):
                    values[f'{iou_type}_{item}_fixed'] = round(stats[item], 3)
        if self.pooled_ap and merged.pool is not None:
            stats = pooled_ap(merged.pool, dict(zip(self.cat_ids, self._frequencies)))
            logger.info(f'AP-Pool ({iou_type}): ' + '  '.join(
                f'{k} {v:.3f}' for k, v in stats.items()))
            values.update({f'{iou_type}_{k}': round(v, 3) for k, v in stats.items()})
        return values

    def _classwise(self, merged: Merged, iou_type: str, logger) -> Dict[str, float]:
        """Per-category AP (all IoUs, all areas), as a table and as ``<name>_precision``."""
        name = {c['id']: c['name'] for c in self._ground_truth.dataset['categories']}
        names = [name[c] for c in merged.cat_ids]
        aps = category_ap(merged.standard[0]).tolist()
        logger.info(f'{iou_type} AP per category\n' + category_table(names, aps))
        return {f'{n}_precision': round(ap, 3) for n, ap in zip(names, aps)}


__all__ = ['FastLVISMetric', 'BACKENDS']
