# mmdet's runtime, with this package imported (so mmdet's own tools/train.py works too), the
# dataset/model category check that stops a run whose annotation file disagrees with the heads,
# and the preemption hook (SIGTERM/SIGUSR1: checkpoint, exit 75; docs/fault_tolerance.md).
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['mmdet_droploss'], allow_failed_imports=False)
custom_hooks = [dict(type='CheckCategoriesHook'), dict(type='PreemptionHook')]
# Iteration-based training: checkpoints and logs count iterations.
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
