"""LVIS AP for mmdet configs, computed by faster-coco-eval (default) or the ``lvis`` package.

``FastLVISMetric`` is mmdet's ``LVISMetric`` with the evaluator made a choice: the same
arguments, result keys (``lvis/bbox_AP``, ..., ``lvis/segm_APf``) and printed table, plus
``bbox_AR``/``segm_AR`` (AR@300). faster-coco-eval's LVIS mode gives the same numbers as the
``lvis`` package several times faster (``tools/benchmark_eval.py`` shows both side by side).

``fixed_ap=K`` adds AP-Fixed (Dave et al. 2021: no per-image cap, the ``K`` best detections of
each category over the dataset; ``protocol/fixed_ap.py``) as ``<type>_AP_fixed``,
``<type>_APr_fixed`` ...; ``pooled_ap=True`` adds AP-Pool (``protocol/pooled_ap.py``) as
``<type>_AP_pool``, ``_APr_pool``, ``_APc_pool``, ``_APf_pool``. Both are fed by a per-class
budget filled as results stream in.

Evaluation is split by category into shares (``shares/``; exact: the shares' per-category
precision and recall joined are one evaluation's) that a runner evaluates (``runners/``). In
a distributed run every rank evaluates a share: each process collects its predictions in
:meth:`process`, mmengine gathers them on rank 0, which alone loads the ground truth (lazily,
at the first evaluation), applies the per-image cap, hands each rank the detections and
ground truth of its categories, merges the shares' results and sends the metrics to every
rank (``round.py``). In one process, ``nproc=N`` evaluates the shares in N worker processes,
which read the annotation file themselves when they start (while the model runs); meanwhile
each record is written to files in shared memory as it comes
(``columns/column_store.RecordStream``), which the workers map, so that the tasks this
process makes are file names and selections; it then merges.

The pieces: the arguments are checked in ``options.py``, each image's record is made and cut
in ``records.py``, and the result keys come from ``results.py``.
"""
from __future__ import annotations

import gc
import os.path as osp
import time
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmdet.evaluation.metrics import LVISMetric
from mmdet.registry import METRICS
from mmengine.dist import collect_results, get_world_size, is_main_process
from mmengine.logging import MMLogger

from ..backends import BACKENDS, category_frequencies, ground_truth_ids, load_ground_truth
from ..columns.column_store import RecordStream, detections_of, exchange_size
from ..columns.detection_arrays import DetectionArrays, counts_per_category
from ..protocol.fixed_ap import PerClassTopK
from ..protocol.ranking import MAX_DETS_PER_IMAGE
from ..runners import InProcess, Runner, runner_for
from ..shares import Merged, describe, make_tasks, merge, share_costs, split_categories
from .options import check_metric_options, check_nproc, per_class_budget
from .records import budget_inputs, cap_record, sample_record, write_results
from .results import classwise_metrics, fixed_metrics, pooled_metrics, summary_metrics
from .round import evaluate_round


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
            ``N`` worker processes. Memory per process: ``docs/evaluation.md``.
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
        metrics, items = check_metric_options(backend, metric, ann_file, metric_items)
        # The ground truth is loaded lazily, on the rank that computes the metrics only.
        super().__init__(ann_file=None, metric=metrics, classwise=classwise,
                         metric_items=items, format_only=format_only,
                         outfile_prefix=outfile_prefix, collect_device=collect_device,
                         prefix=prefix, backend_args=backend_args, **kwargs)
        self.ann_file = ann_file
        self.backend = backend
        self._ground_truth = None
        self.dets_per_class = per_class_budget(fixed_ap, pooled_ap)
        self.nproc = check_nproc(nproc)
        self._kept_runner: Optional[Runner] = None  # a pool (nproc > 1 in one process)
        self._workers_started = False
        self._stream = RecordStream('segm' in self.metrics)  # a pool's records, in files
        self.last_shares: Dict[str, List[dict]] = {}  # iou type -> each share's size and cost
        self.fixed_ap, self.pooled_ap = bool(fixed_ap), bool(pooled_ap)
        self._budgets: Dict[str, PerClassTopK] = {}
        self._merged: Dict[str, PerClassTopK] = {}
        self._reset_budgets()

    def _reset_budgets(self) -> None:
        if self.dets_per_class:
            self._budgets = {t: PerClassTopK(self.dets_per_class) for t in self.metrics}

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each image's predictions, boxes and scores on the CPU and masks as RLE."""
        for sample in data_samples:
            self.add_record(sample_record(sample))

    def add_record(self, result: dict) -> None:
        """Keep one image's record (numpy boxes, scores, labels, RLE masks): into the per-class
        budgets, and its 300 best for standard AP."""
        if not self._workers_started and (self.nproc or 1) > 1:
            self.start_workers(wait=False)
        for iou_type, budget in self._budgets.items():
            inputs = budget_inputs(result, iou_type)
            if inputs is not None:
                budget.add(result['img_id'], *inputs)
        cap_record(result)  # the image's 300 best for standard AP, masks packed
        if self._kept_runner is not None and self._kept_runner.maps_files:
            self._stream.append(result)  # the workers will map the detections from files
        self.results.append((dict(img_id=result['img_id']), result))

    def gather_budgets(self) -> None:
        """Merge the per-class budgets of every process on rank 0: the end of the round's
        records for AP-Fixed and AP-Pool (:meth:`evaluate` does it unless it was done)."""
        states = [{t: b.state() for t, b in self._budgets.items()}]
        kwargs = {}
        if self.collect_device == 'cpu':
            kwargs['tmpdir'] = self.collect_dir
        gathered = collect_results(states, get_world_size(), self.collect_device, **kwargs)
        if is_main_process():
            self._merged = {t: PerClassTopK.merge(self.dets_per_class, [g[t] for g in gathered])
                            for t in self._budgets}
        self._budgets = {}  # gathered: the next round's start at its end

    def evaluate(self, size: int) -> dict:
        """Gather the per-class budgets of every process, then evaluate the round
        (``round.py``): on every rank of a distributed run (each a share), else in this
        process (or its ``nproc`` workers)."""
        if self._budgets:
            self.gather_budgets()
        runner = self._round_runner()
        try:
            metrics = evaluate_round(self.__class__.__name__, self.results, size,
                                     self.collect_device, self.collect_dir, self.prefix,
                                     runner, self._evaluate_records)
            self.results.clear()
            return metrics
        finally:
            if runner is not self._kept_runner:
                runner.close()
            self._merged = {}
            self._reset_budgets()
            self._stream.close()  # the next round streams its own records

    def _round_runner(self) -> Runner:
        """The kept runner (a pool: started), else a new one for this round."""
        if self._kept_runner is None:
            runner = runner_for(self.nproc, self.collect_device,
                                self.collect_dir, self.ann_file,
                                'segm' in self.metrics, self.backend)
            if not runner.kept:
                return runner
            self._kept_runner = runner
        self._kept_runner.start(wait=False)
        return self._kept_runner

    def start_workers(self, wait: bool = True) -> None:
        """Start the ``nproc`` worker processes of a single-process run now (the first
        result does it, so that they start while the model runs); they serve every later
        evaluation. Nothing to do in a distributed run or with one process."""
        self._workers_started = True
        self._round_runner().start(wait=wait)

    def stop_workers(self) -> None:
        """Stop the worker processes, if any (a later result or evaluation starts others)."""
        if self._kept_runner is not None:
            self._kept_runner.close()
        self._kept_runner, self._workers_started = None, False

    def load_ground_truth(self) -> None:
        """Read the annotation file now (else at the first evaluation, on rank 0 only)."""
        self._load_ground_truth()

    def _load_ground_truth(self) -> None:
        if self._ground_truth is not None:
            return
        from mmengine.fileio import get_local_path
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            self._ground_truth = load_ground_truth(local_path, self.backend)
        self.cat_ids, self.img_ids = ground_truth_ids(self._ground_truth, self.backend)
        self._frequencies = category_frequencies(self._ground_truth, self.cat_ids)
        anns = self._ground_truth.dataset['annotations']
        self._gt_counts = counts_per_category(np.fromiter(
            (a['category_id'] for a in anns), np.int64, len(anns)), self.cat_ids)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """The metrics of gathered ``results``, evaluated in this process."""
        return self._evaluate_records(results, InProcess(1))

    def _evaluate_records(self, results: list, runner: Runner) -> Dict[str, float]:
        # Evaluation builds millions of small acyclic objects (result dicts, per-image state);
        # Python's cyclic collector would rescan all of them again and again as they are made
        # (it took 5 of 9 s at 500 LVIS-like images here). Reference counting still frees them.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._compute_metrics(results, runner)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _compute_metrics(self, results: list, runner: Runner) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        self._load_ground_truth()
        _, preds = zip(*results)
        eval_results: Dict[str, float] = OrderedDict()
        streamed = self._stream.store_of(preds)
        for iou_type in self.metrics:  # one type's detections in memory at a time
            with runner.exchange(exchange_size(preds, iou_type)) as folder, detections_of(
                    preds, self.cat_ids, iou_type, streamed,
                    None if self.format_only else folder) as detections:
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
                merged = self._evaluate_shares(runner, iou_type, detections, budget, logger)
                del detections
            eval_results.update(summary_metrics(merged.standard, self._frequencies, iou_type,
                                                self.metric_items, MAX_DETS_PER_IMAGE,
                                                logger.info))
            if self.classwise:
                eval_results.update(classwise_metrics(
                    merged, self._ground_truth.dataset['categories'], iou_type, logger.info))
            if self.fixed_ap and merged.fixed is not None:
                eval_results.update(fixed_metrics(merged.fixed, self._frequencies, iou_type,
                                                  self.metric_items, self.dets_per_class,
                                                  logger.info))
            if self.pooled_ap and merged.pool is not None:
                eval_results.update(pooled_metrics(merged.pool, self.cat_ids, self._frequencies,
                                                   iou_type, logger.info))
        if self.format_only:
            logger.info(f'results are saved in {osp.dirname(self.outfile_prefix)}')
        return eval_results

    def _evaluate_shares(self, runner: Runner, iou_type: str, detections: DetectionArrays,
                         budget: Optional[DetectionArrays], logger) -> Merged:
        """Split by category (balanced by detections and ground truth), evaluate, merge."""
        start = time.perf_counter()
        weights = self._gt_counts.copy()
        for arrays in (detections, budget):
            if arrays is not None:
                weights += counts_per_category(arrays.cat_id, self.cat_ids)
        shares = split_categories(self.cat_ids, weights, runner.num_shares)
        tasks = make_tasks(iou_type, self.backend, self._ground_truth.dataset, detections,
                           budget, shares, self.fixed_ap, self.pooled_ap,
                           ann_file=runner.ann_file)
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
        self.last_shares[iou_type] = share_costs(results, where)
        return merged


__all__ = ['FastLVISMetric', 'BACKENDS']
