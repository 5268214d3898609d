"""The test metrics file is written by rank 0 alone (mmengine's LoggerHook writes it on every
rank, to one path: a race that leaves ``{...}}`` behind)."""
import json
from types import SimpleNamespace

from mmengine.config import Config
from mmengine.logging import MMLogger

from mmdet_droploss.hooks import RankZeroLoggerHook, rank_zero_logger, use_rank_zero_logger


class _LogProcessor:
    """The metrics of one test epoch, as mmengine's LogProcessor hands them to the hook."""

    def get_log_after_epoch(self, runner, batches, mode, with_non_scalar=False):
        assert mode == 'test'
        return {'lvis/bbox_AP': 0.25, 'time': 1.5}, 'Epoch(test) lvis/bbox_AP: 0.2500'


def _runner(log_dir):
    return SimpleNamespace(log_dir=str(log_dir), log_processor=_LogProcessor(),
                           test_dataloader=[0, 1],
                           logger=MMLogger.get_instance('rank_zero_logger_test'))


def test_only_the_main_process_writes_the_test_metrics(tmp_path, monkeypatch):
    runner = _runner(tmp_path)
    hook = RankZeroLoggerHook()
    hook.json_log_path = 'metrics.json'
    monkeypatch.setattr(rank_zero_logger, 'is_main_process', lambda: False)
    hook.after_test_epoch(runner, {'lvis/bbox_AP': 0.25})
    assert not (tmp_path / 'metrics.json').exists()

    monkeypatch.setattr(rank_zero_logger, 'is_main_process', lambda: True)
    hook.after_test_epoch(runner, {'lvis/bbox_AP': 0.25})
    assert json.loads((tmp_path / 'metrics.json').read_text())['lvis/bbox_AP'] == 0.25


def test_the_tools_swap_only_mmengines_own_logger_hook():
    cfg = Config(dict(default_hooks=dict(logger=dict(type='LoggerHook', interval=7))))
    use_rank_zero_logger(cfg)
    assert cfg.default_hooks.logger == dict(type='RankZeroLoggerHook', interval=7)
    own = Config(dict(default_hooks=dict(logger=dict(type='MyLoggerHook', interval=7))))
    use_rank_zero_logger(own)
    assert own.default_hooks.logger.type == 'MyLoggerHook'
    use_rank_zero_logger(Config(dict()))  # no default hooks: nothing to do
