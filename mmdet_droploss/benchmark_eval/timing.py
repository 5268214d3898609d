"""Timing the LVIS evaluation back ends, as ``tools/benchmark_eval.py`` does.

On results files (:func:`time_result_files`): both back ends evaluate the same result dicts
in this process; the wall time includes loading the results, not the ground truth. On a
generated LVIS-v1-like set (:func:`time_generated`, data from
``datasets/lvis_v1_like.py``): each (back end, iou type, processes) runs in a fresh process,
measured from outside (``measured_run.py``), that loads the ground truth and the per-image
records and then times ``FastLVISMetric.evaluate`` (:func:`time_metric`: records to metrics,
as at the end of a test run); faster-coco-eval with 1 and ``nproc`` processes, the lvis path
with 1. Only the package's public entry points are used.
"""
from __future__ import annotations

import contextlib
import io
import json
import os.path as osp
import pickle
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

from ..datasets import generate_lvis_like
from ..evaluation import (DEFAULT_DETS_PER_CLASS, FastLVISMetric, evaluate, evaluate_fixed,
                          evaluate_pooled, load_ground_truth, select_fixed)
from ..evaluation.backends import ground_truth_ids
from ..evaluation.columns import packed
from ..evaluation.protocol.summary import AP_ITEMS, DEFAULT_ITEMS
from .measured_run import cpu_seconds, default_memory_limit_gb, peak_rss_gb, run_measured
from .tables import print_file_report, print_generated_report


def _quiet(*_) -> None:
    """A ``print_fn`` that prints nothing."""


def iou_type_of(path: str) -> str:
    """``'bbox'`` or ``'segm'`` from a results file's name (``*.bbox.json``, ``segm*``)."""
    for iou_type in ('segm', 'bbox'):
        if f'.{iou_type}.' in osp.basename(path) or osp.basename(path).startswith(iou_type):
            return iou_type
    raise SystemExit(f'{path}: cannot tell bbox from segm results; name it *.bbox.json or '
                     '*.segm.json (as tools/test.py does).')


def time_backends(ground_truth: dict, detections: List[dict], iou_type: str,
                  img_ids: Sequence[int], fixed_ap: Optional[int],
                  pooled_ap: bool) -> Tuple[Dict[str, Dict[str, float]], Dict[str, float]]:
    """Every metric and the wall time of each back end (``ground_truth[backend]``) on the
    same result dicts: ``(stats[backend][name], seconds[backend])``."""
    stats, seconds = {}, {}
    for backend, gt in ground_truth.items():
        copy = json.loads(json.dumps(detections))  # both backends annotate the dicts
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the lvis package prints a table
            stats[backend] = evaluate(gt, copy, iou_type, img_ids, backend,
                                      print_fn=_quiet).stats
            if fixed_ap:
                fixed = evaluate_fixed(gt, json.loads(json.dumps(detections)), iou_type,
                                       img_ids, backend, k=fixed_ap, print_fn=_quiet).stats
                stats[backend].update({f'{k}_fixed': fixed[k] for k in AP_ITEMS})
            if pooled_ap:
                stats[backend].update(evaluate_pooled(
                    gt.dataset, select_fixed(detections, fixed_ap or DEFAULT_DETS_PER_CLASS),
                    iou_type, backend, print_fn=_quiet))
        seconds[backend] = time.perf_counter() - start
    return stats, seconds


def time_result_files(ann_file: str, result_files: Sequence[str], backends: Sequence[str],
                      fixed_ap: Optional[int], pooled_ap: bool) -> None:
    """Evaluate each results file with every back end; print their times and metrics."""
    ground_truth = {b: load_ground_truth(ann_file, b) for b in backends}
    _, img_ids = ground_truth_ids(ground_truth[backends[0]], backends[0])
    for path in result_files:
        iou_type = iou_type_of(path)
        with open(path) as f:
            detections = json.load(f)
        stats, seconds = time_backends(ground_truth, detections, iou_type, img_ids, fixed_ap,
                                       pooled_ap)
        print_file_report(path, iou_type, len(img_ids), len(detections), stats, seconds,
                          backends, fixed_ap, pooled_ap)


def time_metric(ann: str, records_path: str, backend: str, iou_type: str, nproc: int,
                fixed_ap: Optional[int], pooled_ap: bool, out: str) -> None:
    """One (backend, iou type, nproc) in this process: records -> metrics, with time and peak
    RSS of this process and of each worker process, written to ``out`` (JSON)."""
    with open(records_path, 'rb') as f:
        records = pickle.load(f)
    if iou_type == 'bbox':
        for _, record in records:
            record.pop('masks', None)
    metric = FastLVISMetric(ann_file=ann, metric=iou_type, backend=backend, fixed_ap=fixed_ap,
                            pooled_ap=pooled_ap, nproc=nproc, metric_items=list(DEFAULT_ITEMS))
    metric.load_ground_truth()
    # what process() does while the model runs: each image's 300 best kept (masks packed),
    # AP-Fixed's per-class budget filled and, with a pool, the records written to files
    process_start = time.perf_counter()
    for _, record in records:
        metric.add_record(record)
    if metric.dets_per_class:
        metric.gather_budgets()
    process_seconds = time.perf_counter() - process_start
    base = peak_rss_gb()
    metric.start_workers()  # in a test run the first result starts them
    start, cpu_start = time.perf_counter(), cpu_seconds()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = metric.evaluate(len(records))
        seconds = time.perf_counter() - start
    finally:
        metric.stop_workers()
    shares = metric.last_shares.get(iou_type, [])
    workers = [s['peak_rss_gb'] for s in shares if s['where'] != 'this process']
    # this process, and what its workers spent on their shares
    cpu = cpu_seconds() - cpu_start + sum(s['cpu_seconds'] for s in shares
                                          if s['where'] != 'this process')
    with open(out, 'w') as f:
        json.dump(dict(seconds=seconds, cpu_seconds=cpu, process_seconds=process_seconds,
                       base_gb=base, peak_gb=peak_rss_gb(),
                       worker_peak_gb=max(workers, default=None), shares=shares,
                       metrics=metrics), f)


def time_generated(worker_cmd: List[str], num_images: int, dets_per_image: int, seed: int,
                   iou_types: Sequence[str], backends: Sequence[str], nproc: int,
                   fixed_ap: Optional[int], pooled_ap: bool,
                   max_memory_gb: Optional[float], repeat: int = 1) -> None:
    """Generate the set, time every run in its own process and print the tables.

    ``worker_cmd`` starts :func:`time_metric` in a fresh process (``tools/benchmark_eval.py
    --worker``); it is given ``--ann``, ``--records``, ``--backend``, ``--iou-type``,
    ``--nproc``, ``--out`` and, when asked for, ``--fixed-ap K`` and ``--pooled-ap``. A run
    above ``max_memory_gb`` (default: 85 % of the machine) is stopped and reported. With
    ``repeat`` > 1 every run is measured that many times, in rounds over all of them (a slow
    spell of the machine falls on every run alike), and the tables give the median."""
    nprocs = sorted({1, nproc})
    limit = max_memory_gb or default_memory_limit_gb()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        gt, records = generate_lvis_like(num_images, dets_per_image, seed,
                                         masks='segm' in iou_types)
        ann = osp.join(tmp, 'lvis_v1_like_val.json')
        with open(ann, 'w') as f:
            json.dump(gt, f)
        for record in records:  # masks packed, as the metric keeps them (metric/records.py)
            if 'masks' in record:
                record['masks'] = packed(record['masks'])
        with open(osp.join(tmp, 'records.pkl'), 'wb') as f:
            pickle.dump([(dict(img_id=r['img_id']), r) for r in records], f, protocol=5)
        num_dets = sum(len(r['scores']) for r in records)
        del gt, records
        print(f'Generated {num_images} images, {num_dets} detections in '
              f'{time.perf_counter() - start:.0f} s; memory limit per run {limit:.1f} GB',
              flush=True)
        keys = [(backend, iou_type, n) for iou_type in iou_types for backend in backends
                for n in (nprocs if backend == 'faster_coco_eval' else [1])]
        measured: Dict[Tuple[str, str, int], List[dict]] = {key: [] for key in keys}
        for round_ in range(repeat):
            for backend, iou_type, n in keys:
                out = osp.join(tmp, f'{backend}.{iou_type}.{n}.json')
                cmd = worker_cmd + ['--ann', ann, '--records', osp.join(tmp, 'records.pkl'),
                                    '--backend', backend, '--iou-type', iou_type,
                                    '--nproc', str(n), '--out', out]
                cmd += ['--fixed-ap', str(fixed_ap)] if fixed_ap else []
                cmd += ['--pooled-ap'] if pooled_ap else []
                error, sampled = run_measured(cmd, limit)
                if error is None:
                    with open(out) as f:
                        measured[backend, iou_type, n].append(json.load(f))
                else:
                    measured[backend, iou_type, n].append(dict(error=error, sampled_gb=sampled))
                which = f' (run {round_ + 1} of {repeat})' if repeat > 1 else ''
                print(f'  {backend} {iou_type} {n} process(es){which}: '
                      f'{error or "%.2f s" % measured[backend, iou_type, n][-1]["seconds"]}',
                      flush=True)
        print_generated_report(num_images, num_dets,
                               {key: median_run(measured[key]) for key in keys}, iou_types)


def median_run(runs: Sequence[dict]) -> dict:
    """One (back end, iou type, processes) over its repeats: the run of median wall time
    (the lower of the two middle ones), with every run's wall time (``all_seconds``, in the
    order run), the highest peaks, and whether every run gave the same metrics; the first
    failure if any run failed."""
    failed = [r for r in runs if 'error' in r]
    if failed:
        return failed[0]
    median = dict(sorted(runs, key=lambda r: r['seconds'])[(len(runs) - 1) // 2])
    median['all_seconds'] = [r['seconds'] for r in runs]
    median['peak_gb'] = max(r['peak_gb'] for r in runs)
    workers = [r['worker_peak_gb'] for r in runs if r.get('worker_peak_gb') is not None]
    median['worker_peak_gb'] = max(workers) if workers else None
    median['same_metrics'] = all(r['metrics'] == runs[0]['metrics'] for r in runs)
    return median


__all__ = ['iou_type_of', 'median_run', 'time_backends', 'time_generated', 'time_metric',
           'time_result_files']
