"""The Markdown tables ``tools/benchmark_eval.py`` prints: time, memory and every metric.

A metrics table has one column per evaluation (a back end, or ``<back end>/<processes>``)
and, per metric, the spread between them; the largest spread follows it. A results file gets
its time row and the faster-coco-eval speedup; the generated set one row per run (wall and
CPU time, peak RSS of the evaluating process and of its largest worker, speedups over the
lvis path and over one process, or why it failed), then one metrics table per iou type.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

from ..evaluation.protocol.pooled_ap import POOLED_NAMES
from ..evaluation.protocol.summary import AP_ITEMS, STAT_NAMES, STATISTICS

Run = Tuple[str, str, int]  # back end, iou type, processes


def print_table(title: str, stats: Dict[str, Dict[str, float]], names: Sequence[str],
                columns: Sequence[str]) -> None:
    """``stats[column][name]`` side by side, with each metric's and the largest difference."""
    print(f'\n{title}\n\n| | ' + ' | '.join(columns) + ' | |\n|' + '---|' * (len(columns) + 2))
    worst = 0.0
    for name in names:
        values = [stats[c][name] for c in columns]
        diff = max(values) - min(values)
        worst = max(worst, diff)
        print(f'| {name} | ' + ' | '.join(f'{v:.4f}' for v in values) + f' | diff {diff:.1e} |')
    print(f'\nlargest difference over {len(names)} metrics: {worst:.1e}')


def print_file_report(path: str, iou_type: str, num_images: int, num_dets: int,
                      stats: Dict[str, Dict[str, float]], seconds: Dict[str, float],
                      backends: Sequence[str], fixed_ap: Optional[int], pooled_ap: bool) -> None:
    """One results file: each back end's time, then every metric of each."""
    print(f'\n## {iou_type}: {num_images} images, {num_dets} detections ({path})')
    print('\n| | ' + ' | '.join(backends) + ' |\n|' + '---|' * (len(backends) + 1))
    print('| time (s) | ' + ' | '.join(f'{seconds[b]:.2f}' for b in backends) + ' |')
    if len(backends) == 2:
        print(f"\nfaster-coco-eval: {seconds['lvis'] / seconds['faster_coco_eval']:.1f}x "
              'faster')
    names = list(STATISTICS)
    names += [f'{k}_fixed' for k in AP_ITEMS] if fixed_ap else []
    names += list(POOLED_NAMES) if pooled_ap else []
    print_table(f'### {iou_type} metrics', stats, names, backends)


def print_generated_report(num_images: int, num_dets: int, runs: Dict[Run, dict],
                           iou_types: Sequence[str]) -> None:
    """The generated set: one row per run (``runs[backend, iou_type, nproc]``: what
    ``timing.time_metric`` wrote, or ``error``), then the metrics of each iou type."""
    print(f'\n## {num_images} images, {num_dets} detections (generated, LVIS-v1-like)\n')
    repeated = any(len(r.get('all_seconds', ())) > 1 for r in runs.values())
    print('| back end | iou type | processes | wall (s) | CPU (s) | process() (s) | '
          'peak RSS, main (GB) | '
          'peak RSS per worker (GB) | speedup vs lvis | speedup vs 1 process | '
          + ('wall, every run (s) | ' if repeated else '') + 'status |\n'
          + '|---' * (12 if repeated else 11) + '|')
    for (backend, iou_type, nproc), run in runs.items():
        if 'error' in run:
            print(f'| {backend} | {iou_type} | {nproc} | | | | | | | | '
                  + ('| ' if repeated else '') + f'failed: {run["error"]} |')
            continue
        every = ' / '.join(f'{s:.2f}' for s in run.get('all_seconds', [run['seconds']]))
        status = 'ok' if run.get('same_metrics', True) else 'ok, but the metrics differ ' \
            'between runs'
        lvis = runs.get(('lvis', iou_type, 1), {}).get('seconds')
        one = runs.get((backend, iou_type, 1), {}).get('seconds')
        worker, process = run.get('worker_peak_gb'), run.get('process_seconds')
        print(f'| {backend} | {iou_type} | {nproc} | {run["seconds"]:.2f} | '
              f'{run["cpu_seconds"]:.2f} | {"-" if process is None else "%.2f" % process} | '
              f'{run["peak_gb"]:.2f} | '
              f'{"-" if worker is None else "%.2f" % worker} | '
              f'{"%.1fx" % (lvis / run["seconds"]) if lvis else "-"} | '
              f'{"%.2fx" % (one / run["seconds"]) if one else "-"} | '
              + (f'{every} | ' if repeated else '') + f'{status} |')
    print('\n(wall: records to metrics; the workers are started before, as in a test run, '
          'where the first result starts them while the model runs; process(): what the '
          "metric's process() did with every record before (what a test run spreads over "
          'the model\'s run: the 300 best kept, masks packed, with a pool the records written '
          'to shared memory), with the workers starting meanwhile; CPU: the evaluating '
          'process and its workers; peak RSS, main: the evaluating '
          'process, records and ground truth included; per worker: the largest worker, each a '
          'fresh process' + ('; with --repeat: wall and CPU of the run of median wall time, '
                             'the speedups between medians, the highest peaks' if repeated
                             else '') + ')')
    for iou_type in iou_types:
        done = {f'{b}/{n}': r for (b, t, n), r in runs.items() if t == iou_type and
                'error' not in r}
        if len(done) < 1:
            continue
        print(f'\n## {iou_type}: {num_images} images, {num_dets} detections')
        # the metric's keys (``bbox_AR``) -> the names printed (the lvis package's)
        stats = {label: {STAT_NAMES.get(k.split('_', 1)[1], k.split('_', 1)[1]): v
                         for k, v in r['metrics'].items()} for label, r in done.items()}
        labels = list(done)
        print_table(f'### {iou_type} metrics', stats, list(stats[labels[0]]), labels)


__all__ = ['print_file_report', 'print_generated_report', 'print_table']
