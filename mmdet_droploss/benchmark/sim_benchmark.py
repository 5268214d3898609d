"""The simulator benchmark's entry point (``tools/benchmark.py --design roi_v1*``): plan the
runs, train and evaluate those not finished (``simulated``), write the report
(``sim_report``)."""
from __future__ import annotations

from typing import Callable, Sequence

from ..roi_sim.methods import METHODS
from ..roi_sim.run import simulate_data
from ..roi_sim.statistics import generator_statistics
from .sim_designs import SimulatorDesign, quick_spec
from .sim_report import write_sim_report
from .simulated import plan_sim_runs, run_all, spec_for


def run_simulator_benchmark(design: SimulatorDesign, methods: Sequence[str],
                            seeds: Sequence[int], out_dir: str, quick: bool = False,
                            command: str = '', commit: str = '',
                            log: Callable[[str], None] = print,
                            report_only: bool = False) -> str:
    """Train and evaluate every (method, seed) not yet finished, then write the report;
    returns its Markdown. ``quick``: the pipeline on a tiny schedule (numbers mean nothing);
    ``report_only``: train nothing, report the finished runs."""
    spec = quick_spec(design.spec) if quick else design.spec
    runs = plan_sim_runs(out_dir, methods, seeds)
    log(f'simulator design "{design.name}": methods {list(methods)}, seeds {list(seeds)} '
        f'-> {out_dir}')
    first = None if report_only else run_all(runs, spec, log, commit)
    first_spec = spec_for(spec, METHODS[runs[0].method])
    statistics = generator_statistics(first or simulate_data(first_spec, runs[0].seed),
                                      first_spec)
    return write_sim_report(out_dir, runs, design, statistics, command, commit)


__all__ = ['run_simulator_benchmark']
