# The paper's schedule (detectron2's LVIS recipe): SGD, batch 16 (8 GPUs x 2 images), lr 0.02,
# momentum 0.9, weight decay 1e-4, 90k iterations, lr x0.1 at 60k and 80k, 1k-iteration linear
# warm-up. The paper's text says lr 0.2; the released configs use 0.02.
max_iters = 90000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[60000, 80000], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))
# lr 0.02 is for a total batch of 16; `tools/train.py --auto-scale-lr` rescales it.
auto_scale_lr = dict(enable=False, base_batch_size=16)
