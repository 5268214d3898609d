"""mmengine's ``LoggerHook`` with the test metrics written by the main process only.

``LoggerHook.after_test_epoch`` (mmengine 0.10) dumps the test metrics to
``<work_dir>/<timestamp>/<timestamp>.json`` on *every* rank, and every rank shares that path (the
timestamp is broadcast from rank 0). Two processes truncating and writing one file leave the
longer one's tail behind the shorter one's JSON, e.g. ``{...}}``: a metrics file no JSON reader
accepts. Training and validation scalars go through the visualizer, which is rank-0 only already.
"""
from __future__ import annotations

from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook

from mmdet.registry import HOOKS


@HOOKS.register_module()
class RankZeroLoggerHook(LoggerHook):
    """``LoggerHook`` whose test metrics file is written once, by rank 0."""

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        # the other ranks' loggers print errors only, so they have nothing to log either
        if is_main_process():
            super().after_test_epoch(runner, metrics)


def use_rank_zero_logger(cfg) -> None:
    """Swap mmengine's plain ``LoggerHook`` in ``cfg.default_hooks`` for
    :class:`RankZeroLoggerHook` (same arguments); a user's own logger hook is left alone."""
    logger = (cfg.get('default_hooks') or {}).get('logger')
    if logger is not None and logger.get('type') in ('LoggerHook', LoggerHook):
        logger['type'] = 'RankZeroLoggerHook'
