# LVIS v1.0: the v0.5 setting (no RFS, same pipelines and metric) on the v1 files, laid out as
# mmdet expects (data/lvis_v1/, images named by their coco_url under train2017/ and val2017/).
_base_ = './lvis_v0.5.py'

num_classes = 1203
categories = 'lvis_v1'
data_root = 'data/lvis_v1/'

train_dataset = dict(
    _base_.train_dataset,
    type='LVISV1Dataset',
    data_root=data_root,
    ann_file='annotations/lvis_v1_train.json',
    data_prefix=dict(img=''))
train_dataloader = dict(dataset=dict(_delete_=True, **train_dataset))
rfs_train_dataset = dict(_base_.rfs_train_dataset, dataset=train_dataset)
val_dataloader = dict(
    dataset=dict(
        type='LVISV1Dataset',
        data_root=data_root,
        ann_file='annotations/lvis_v1_val.json',
        data_prefix=dict(img='')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/lvis_v1_val.json')
test_evaluator = val_evaluator
