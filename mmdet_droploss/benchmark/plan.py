"""Which runs the benchmark trains: every method with the same recipe, once per seed."""
from __future__ import annotations

import json
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from ..analysis.results import last_lvis_record
from .calibration import CALIBRATION_METHODS

BENCH_CONFIG_DIR = 'configs/benchmark'
#: method name -> (config file under configs/benchmark/, label in the report), in table order
METHODS: Dict[str, tuple] = {
    'bce': ('mask_rcnn_tiny_bce_bench.py', 'BCE'),
    'eql': ('mask_rcnn_tiny_eql_bench.py', 'EQL'),
    'bce_rfs': ('mask_rcnn_tiny_bce_rfs_bench.py', 'BCE + RFS'),
    'eql_rfs': ('mask_rcnn_tiny_eql_rfs_bench.py', 'EQL + RFS'),
    'eqlv2': ('mask_rcnn_tiny_eqlv2_bench.py', 'EQLv2'),
    'droploss': ('mask_rcnn_tiny_droploss_bench.py', 'DropLoss'),
    'droploss_rfs': ('mask_rcnn_tiny_droploss_rfs_bench.py', 'DropLoss + RFS'),
    'beql': ('mask_rcnn_tiny_beql_b4_bench.py', 'BEQL (b = 4)'),
    'fixed_drop50': ('mask_rcnn_tiny_fixed_drop50_bench.py', 'fixed drop ratio 0.5'),
    # later papers' losses (configs/federated, configs/ecm, configs/gol), on request
    'federated': ('mask_rcnn_tiny_federated_bench.py', 'Federated Loss'),
    'ecm': ('mask_rcnn_tiny_ecm_bench.py', 'ECM'),
    'droploss_gumbel': ('mask_rcnn_tiny_droploss_gumbel_bench.py', 'DropLoss (Gumbel, GOL)'),
}
#: the methods under test (issue 18): trained only on the frozen design, never while searching
HELD_OUT_METHODS = ('droploss', 'droploss_rfs', 'beql', 'fixed_drop50')
#: what the benchmark trains by default: the calibration methods, then the held-out ones
DEFAULT_METHODS = CALIBRATION_METHODS + HELD_OUT_METHODS
DONE_FILE = 'benchmark_run.json'


@dataclass(frozen=True)
class BenchmarkRun:
    method: str
    seed: int
    work_dir: str

    @property
    def config(self) -> str:
        return osp.join(BENCH_CONFIG_DIR, METHODS[self.method][0])

    @property
    def label(self) -> str:
        return METHODS[self.method][1]

    @property
    def uses_rfs(self) -> bool:
        """Trained with repeat factor sampling (its config wraps the set in
        ``ClassBalancedDataset``)."""
        return self.method.endswith('_rfs')

    @property
    def checkpoint(self) -> str:
        """The run's final checkpoint (what mmengine's ``last_checkpoint`` names)."""
        with open(osp.join(self.work_dir, 'last_checkpoint')) as f:
            return f.read().strip()

    def record(self) -> Optional[dict]:
        """What the finished run recorded (seconds, seed, metrics), or ``None`` if it has not
        finished: trained, evaluated and marked done."""
        path = osp.join(self.work_dir, DONE_FILE)
        if not osp.isfile(path) or last_lvis_record(self.work_dir) is None:
            return None
        with open(path) as f:
            return json.load(f)

    def mark_done(self, seconds: float) -> None:
        with open(osp.join(self.work_dir, DONE_FILE), 'w') as f:
            json.dump(dict(method=self.method, seed=self.seed, config=self.config,
                           seconds=round(seconds, 1)), f)


def plan_runs(out_dir: str, methods: Sequence[str], seeds: Sequence[int]) -> List[BenchmarkRun]:
    """The runs, seed-major (every method's first seed before any second seed), so that a
    partial benchmark already compares all methods."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f'unknown method(s) {unknown}; choose from {list(METHODS)}')
    return [BenchmarkRun(m, s, osp.join(out_dir, 'runs', m, f'seed{s}'))
            for s in seeds for m in methods]
