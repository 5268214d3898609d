# 1000 iterations (~5 epochs of the demo set at 2 processes x 2 images), evaluated at the end; progress and ETA logged every 10 iterations.
_base_ = '../../_base_/default_runtime.py'

# The demo also records the classification gradient per frequency group (paper Fig. 1a):
# <work_dir>/gradient_stats.json, plotted by tools/plot_gradient_stats.py.
custom_hooks = [
    dict(type='CheckCategoriesHook'),
    dict(type='GradientStatsHook', interval=50),
    dict(type='PreemptionHook'),
]

max_iters = 1000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[800],
         gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=10.0, norm_type=2))
# The learning rate above is for 2 processes x 2 images.
auto_scale_lr = dict(enable=False, base_batch_size=4)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters // 2,
                    max_keep_ckpts=2))
