"""Quiet launches: the stack's notices a user cannot act on are hidden by our tools, matched by
message and origin; a user's own warnings, and everything with ``MMDET_DROPLOSS_VERBOSE=1``,
still show (mmdet_droploss.third_party_notices). The launches are the ``demo_run`` fixture's."""
import logging
import re
import warnings

import pytest
from mmengine.config import Config

import user_probe
from conftest import DEMO_CONFIG
from mmdet_droploss import third_party_notices as notices
from mmdet_droploss.compat.distributed import default_model_wrapper_cfg

# What a launch printed before, written out here rather than taken from the module under test.
NOTICE_LINES = {
    'setuptools': re.compile(r'UserWarning: pkg_resources is deprecated as an API\. See '
                             r'https://setuptools'),
    'mmengine threads': re.compile(r'setup_env\.py:\d+: UserWarning: Setting '
                                   r'(MKL|OMP)_NUM_THREADS environment variable'),
    'torchrun threads': re.compile(r'Setting OMP_NUM_THREADS environment variable for each '
                                   r'process to be 1 in default'),
    'FileClient': re.compile(r'WARNING - "FileClient" will be deprecated in future'),
    'HardDiskBackend': re.compile(r'WARNING - "HardDiskBackend" is the alias of "LocalBackend"'),
    'broadcast_buffers': re.compile(r'FutureWarning: `broadcast_buffers` is deprecated'),
}


def notices_in(log: str) -> dict:
    return {name: len(pattern.findall(log)) for name, pattern in NOTICE_LINES.items()
            if pattern.search(log)}


def test_training_and_evaluation_logs_show_no_notice_of_the_stack(demo_run):
    first_training, _ = demo_run.train_logs
    assert notices_in(first_training) == {}
    assert notices_in(demo_run.test_log) == {}  # dist_test.sh: a 2-process evaluation
    # the only warnings the logs show are the user's (the evaluation imports no user module)
    assert warning_lines(demo_run.test_log) == []
    assert [line for line in warning_lines(first_training) if 'user_probe' not in line] == []


def warning_lines(log: str) -> list:
    return [line for line in log.splitlines() if re.search(r'Warning: | - WARNING - ', line)]


def test_a_users_own_warnings_still_show(demo_run):
    first_training = demo_run.train_logs[0]
    # warnings.warn reaches stderr in both processes, mmengine's logger prints rank 0's
    for message in (user_probe.IMPORT_WARNING, user_probe.HOOK_WARNING):
        assert first_training.count(message) == 2, message
    # a hidden notice's text from another module than the stack's is not hidden
    assert first_training.count(f'UserWarning: {user_probe.NOTICE_TEXT_WARNING}') == 2
    assert first_training.count(f'WARNING - {user_probe.LOGGED_WARNING}') == 1


def test_verbose_shows_the_notices_again(demo_run):
    # MMDET_DROPLOSS_VERBOSE=1; MKL_NUM_THREADS and OMP_NUM_THREADS unset
    verbose_training = demo_run.train_logs[1]
    shown = notices_in(verbose_training)
    assert shown.get('mmengine threads') == 2  # one per process
    assert shown.get('setuptools', 0) >= 2  # at least once per process
    assert shown.get('FileClient', 0) >= 1 and shown.get('HardDiskBackend', 0) >= 1
    # fixed where it came from, not hidden: torch's deprecation and torchrun's banner are gone
    assert 'broadcast_buffers' not in shown and 'torchrun threads' not in shown


@pytest.fixture
def fresh_filters(monkeypatch):
    """This test's own warning filters, and MMDET_DROPLOSS_VERBOSE unset."""
    monkeypatch.delenv(notices.VERBOSE_ENV, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter('always')
        yield caught


def warn_from(module: str, message: str, category=UserWarning) -> None:
    warnings.warn_explicit(message, category, f'{module.replace(".", "/")}.py', 1, module=module)


def test_a_warning_is_hidden_only_for_its_message_from_its_module(fresh_filters):
    assert notices.hide_third_party_notices() is True
    setuptools = 'pkg_resources is deprecated as an API. See https://setuptools.pypa.io'
    threads = 'Setting MKL_NUM_THREADS environment variable for each process to be 1 in default'
    warn_from('mmengine.utils.package_utils', setuptools)
    warn_from('mmdet.apis', setuptools)
    warn_from('importlib', setuptools)  # mmengine's importlib.reload(pkg_resources)
    warn_from('mmengine.utils.dl_utils.setup_env', threads)
    assert fresh_filters == []
    warn_from('my_project.hooks', setuptools)  # the same text from the user's module
    warn_from('mmengine.utils.package_utils', 'pkg_resources cannot find mmdet')  # other text
    warn_from('mmengine.utils.package_utils', setuptools, DeprecationWarning)  # other category
    warn_from('my_project.setup_env', threads)
    assert len(fresh_filters) == 4


def test_verbose_installs_no_filter(fresh_filters, monkeypatch):
    monkeypatch.setenv(notices.VERBOSE_ENV, '1')
    assert notices.hide_third_party_notices() is False
    warn_from('mmengine.utils.package_utils', 'pkg_resources is deprecated as an API.')
    assert len(fresh_filters) == 1
    for off in ('0', 'false', ''):
        monkeypatch.setenv(notices.VERBOSE_ENV, off)
        assert not notices.verbose()


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelname, record.getMessage()))


@pytest.mark.parametrize('verbose', [False, True])
def test_a_logged_notice_is_dropped_at_its_exact_text_and_level(verbose, monkeypatch):
    monkeypatch.setenv(notices.VERBOSE_ENV, '1' if verbose else '0')
    logger = logging.Logger(f'runner_{verbose}')
    records = _Records()
    logger.addHandler(records)
    notices.hide_logged_notices(logger)
    notices.hide_logged_notices(logger)  # idempotent
    assert len(logger.filters) == (0 if verbose else 1)
    file_client = ('"FileClient" will be deprecated in future. Please use io functions in '
                   'https://mmengine.readthedocs.io/en/latest/api/fileio.html#file-io')
    alias = ('"HardDiskBackend" is the alias of "LocalBackend" and the former will be '
             'deprecated in future.')
    logger.warning(file_client)
    logger.warning(alias)
    logger.error(file_client)  # an error is never hidden
    logger.warning('"FileClient" will be deprecated in future.')  # a part of it is other text
    kept = [('ERROR', file_client), ('WARNING', '"FileClient" will be deprecated in future.')]
    assert records.messages == ([('WARNING', file_client), ('WARNING', alias)] if verbose
                                else []) + kept


def test_configs_without_a_ddp_wrapper_get_mmengines_default_without_deprecated_arguments():
    import inspect

    from torch.nn.parallel import DistributedDataParallel
    from mmdet_droploss.cli import load_config
    wrapper = default_model_wrapper_cfg(find_unused_parameters=True)
    if 'forward_sync_buffers' not in inspect.signature(DistributedDataParallel).parameters:
        assert wrapper is None  # torch < 2.13: mmengine's broadcast_buffers=False stands
        return
    assert wrapper == dict(type='MMDistributedDataParallel', forward_sync_buffers=False,
                           find_unused_parameters=True)
    args = type('Args', (), dict(config=str(DEMO_CONFIG), launcher='pytorch', work_dir='w',
                                 cfg_options=None))
    assert load_config(args).model_wrapper_cfg == default_model_wrapper_cfg()
    # a config's own wrapper settings are the user's: kept as they are
    args.config, args.cfg_options = str(DEMO_CONFIG), {
        'model_wrapper_cfg': dict(type='MMDistributedDataParallel', broadcast_buffers=True)}
    assert load_config(args).model_wrapper_cfg == dict(type='MMDistributedDataParallel',
                                                       broadcast_buffers=True)
    assert Config.fromfile(str(DEMO_CONFIG)).get('model_wrapper_cfg') is None
