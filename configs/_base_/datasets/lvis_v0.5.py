# LVIS v0.5 (train on train2017 images, evaluate on val), the paper's multi-scale training
# (short side 640..800, long side <= 1333, flip) from mmdet's LVIS base, WITHOUT repeat factor
# sampling (mmdet's base wraps the set in ClassBalancedDataset; the paper's main rows do not).
# Evaluation: LVIS AP (bbox and segm) with faster-coco-eval.
_base_ = 'mmdet::_base_/datasets/lvis_v0.5_instance.py'

num_classes = 1230
categories = 'lvis_v0.5'  # the loss's built-in category metadata for this version
rfs_threshold = 0.0005  # the released code's repeat factor sampling threshold (mmdet: 0.001)

train_dataset = dict(
    type={{_base_.dataset_type}},
    data_root={{_base_.data_root}},
    ann_file='annotations/lvis_v0.5_train.json',
    data_prefix=dict(img='train2017/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline={{_base_.train_pipeline}},
    backend_args={{_base_.backend_args}})
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, **train_dataset))
rfs_train_dataset = dict(
    type='ClassBalancedDataset', oversample_thr=rfs_threshold, dataset=train_dataset)

val_evaluator = dict(type='FastLVISMetric')
test_evaluator = val_evaluator
