"""The loss benchmark on the LVIS-scale simulator (issue 29): its runs, seed-major and
resumable, with progress and ETA, and their results by method and calibration (the report is
``sim_report``; ``sim_benchmark`` runs both)."""
from __future__ import annotations

import dataclasses
import json
import os.path as osp
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from ..analysis.results import ConfigResult, Run, config_result
from ..roi_sim.methods import METHODS, SIM_CALIBRATION_METHODS, Method
from ..roi_sim.run import RESULT_FILE, SimulatedData, run_simulation, simulate_data
from ..roi_sim.spec import SimulatorSpec
from .calibration import GUMBEL_ORDERINGS, ORDERINGS, calibrate, verdict

#: LVIS's validation images per version (v0.5 val: 5,000)
VAL_IMAGES = {'lvis_v1': 19809, 'lvis_v0.5': 5000}
#: report columns: bbox AP of the simulated detections (there are no masks)
SIM_COLUMNS = (('AP', 'bbox_AP'), ('APr', 'bbox_APr'), ('APc', 'bbox_APc'),
               ('APf', 'bbox_APf'), ('AP_fixed', 'bbox_AP_fixed'),
               ('APr_fixed', 'bbox_APr_fixed'))
SIM_ORDERINGS = ORDERINGS + GUMBEL_ORDERINGS


@dataclass(frozen=True)
class SimRun:
    method: str
    seed: int
    work_dir: str

    @property
    def data_dir(self) -> str:
        """Where the seed's validation annotation file is kept (per LVIS version)."""
        runs_dir = osp.dirname(osp.dirname(self.work_dir))
        return osp.join(osp.dirname(runs_dir), 'data', METHODS[self.method].version,
                        f'seed{self.seed}')

    def result(self) -> Optional[dict]:
        """The finished run's ``result.json``, or ``None``."""
        path = osp.join(self.work_dir, RESULT_FILE)
        if not osp.isfile(path):
            return None
        with open(path) as f:
            return json.load(f)


def plan_sim_runs(out_dir: str, methods: Sequence[str], seeds: Sequence[int]) -> List[SimRun]:
    """Seed-major: every method's first seed before any second seed."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f'unknown method(s) {unknown}; choose from {list(METHODS)}')
    return [SimRun(m, s, osp.join(out_dir, 'runs', m, f'seed{s}')) for s in seeds
            for m in methods]


def spec_for(spec: SimulatorSpec, method: Method) -> SimulatorSpec:
    """The design's spec on the method's LVIS version (v0.5 methods: v0.5's counts and
    validation size; a quick spec keeps its own validation size)."""
    if method.version == spec.version:
        return spec
    val = VAL_IMAGES[method.version] if spec.num_val_images == VAL_IMAGES[spec.version] \
        else spec.num_val_images
    return dataclasses.replace(spec, version=method.version, num_val_images=val)


def run_all(runs: Sequence[SimRun], spec: SimulatorSpec,
            log: Callable[[str], None] = print, commit: str = '') -> Optional[SimulatedData]:
    """Every run not finished yet, one seed's data simulated once for all its methods (each
    run's result records ``commit``). Returns the first run's data (the report's generator
    statistics read it) if it had to be simulated."""
    todo = [r for r in runs if r.result() is None]
    log(f'{len(runs) - len(todo)} of {len(runs)} runs already finished; {len(todo)} to go')
    data, start, done, first = {}, time.perf_counter(), 0, None
    first_key = (spec_for(spec, METHODS[runs[0].method]).version, runs[0].seed) if runs else None
    for run in todo:
        method = METHODS[run.method]
        run_spec = spec_for(spec, method)
        key = (run_spec.version, run.seed)
        if key not in data:
            data.clear()  # one seed's data in memory at a time (and the first run's)
            data[key] = simulate_data(run_spec, run.seed)
            if key == first_key:
                first = data[key]
        log(f'[{done + 1}/{len(todo)}] {method.label}, seed {run.seed}')
        result = run_simulation(run_spec, method, run.seed, run.work_dir, run.data_dir,
                                data[key], log, commit)
        done += 1
        elapsed = time.perf_counter() - start
        log(f'    {_headline(result)}; {result["seconds"]:.0f} s '
            f'(train {result["training"]["seconds"]:.0f}, eval {result["eval_seconds"]:.0f}); '
            f'ETA {elapsed / done * (len(todo) - done) / 60:.0f} min')
    return first


def _headline(result: dict) -> str:
    m = result['metrics']
    return ' '.join(f'{k} {m.get("bbox_" + k, float("nan")) * 100:.1f}'
                    for k in ('AP', 'APr', 'APc', 'APf'))


def sim_results_by_method(runs: Sequence[SimRun]) -> Dict[str, ConfigResult]:
    """Method name -> mean and std over its finished seeds (``SIM_COLUMNS``)."""
    by_method: Dict[str, ConfigResult] = {}
    for method in dict.fromkeys(r.method for r in runs):
        finished = [(r, r.result()) for r in runs if r.method == method]
        finished = [(r, res) for r, res in finished if res is not None]
        if finished:
            label = METHODS[method].label
            by_method[method] = config_result(
                label, [Run(r.work_dir, label, res['metrics']) for r, res in finished],
                SIM_COLUMNS)
    return by_method


def sim_calibration(runs: Sequence[SimRun]):
    """(checks, verdict) of the calibration criteria with GOL's ordering added."""
    results = sim_results_by_method([r for r in runs if r.method in SIM_CALIBRATION_METHODS])
    checks = calibrate(results, SIM_ORDERINGS, SIM_CALIBRATION_METHODS)
    seeds = min((len(r.runs) for r in results.values()), default=0)
    if len(results) < len(SIM_CALIBRATION_METHODS):
        seeds = 0
    return checks, verdict(checks, seeds), seeds


__all__ = ['SimRun', 'plan_sim_runs', 'run_all',
           'sim_calibration', 'sim_results_by_method', 'spec_for']
