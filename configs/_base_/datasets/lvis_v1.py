# LVIS v1.0 (images under data/lvis_v1/ as in mmdet: train2017/ and val2017/ named by coco_url),
# without repeat factor sampling; LVIS AP with faster-coco-eval.
_base_ = 'mmdet::_base_/datasets/lvis_v1_instance.py'

num_classes = 1203
categories = 'lvis_v1'
rfs_threshold = 0.0005

train_dataset = dict(
    type={{_base_.dataset_type}},
    data_root={{_base_.data_root}},
    ann_file='annotations/lvis_v1_train.json',
    data_prefix=dict(img=''),
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
