"""Who evaluates the shares (layer 4), interchangeable behind ``base.Runner``: this process
(``base.InProcess``), a pool of worker processes (``process_pool``), the ranks of a
distributed run (``ranks``); ``choice.runner_for`` picks one."""
from .base import InProcess, Runner, cpus
from .choice import runner_for
from .process_pool import ProcessPool, WorkerFailed
from .ranks import Distributed, RankFailed

__all__ = ['Distributed', 'InProcess', 'ProcessPool', 'RankFailed', 'Runner', 'WorkerFailed',
           'cpus', 'runner_for']
