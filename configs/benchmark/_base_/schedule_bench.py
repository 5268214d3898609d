# One benchmark run: 1200 iterations of 2 processes x 2 images (about 6.5 epochs of the
# 720-image training split), evaluated once at the end; the demo's optimiser and warm-up, the
# learning-rate step at 80 %. Every method uses exactly this schedule.
_base_ = '../../demo/_base_/schedule_demo.py'

max_iters = 1200
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[960],
         gamma=0.1)
]
# The gradient statistics (paper Fig. 1a) of every run, logged every 100 iterations; the
# checkpoint at the end only (a resumed benchmark restarts unfinished runs from scratch).
custom_hooks = [
    dict(type='CheckCategoriesHook'),
    dict(type='GradientStatsHook', interval=100),
    dict(type='PreemptionHook'),
]
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
