# The built-in synthetic long-tailed LVIS-format dataset (tools/generate_demo_dataset.py).
# Its location can be changed without editing configs: MMDET_DROPLOSS_DEMO_DATA=/some/dir
dataset_type = 'LVISDataset'
# With or without the trailing slash: data_root ends with exactly one, so the paths below join.
# (String methods, not os.path: a config importing a module is read as a lazy-import config.)
data_root = '{{$MMDET_DROPLOSS_DEMO_DATA:data/demo_lvis}}'.rstrip('/') + '/'
train_ann_file = 'annotations/lvis_demo_train.json'
val_ann_file = 'annotations/lvis_demo_val.json'
# Category frequencies for the long-tail losses come from the training annotations.
category_file = data_root + train_ann_file
# Category names in id order, as mmdet_droploss.datasets.category_names() generates them.
metainfo = dict(classes=(
    'red_square', 'green_square', 'blue_square', 'yellow_square', 'red_triangle',
    'green_triangle', 'blue_triangle', 'yellow_triangle', 'red_diamond', 'green_diamond',
    'blue_diamond', 'yellow_diamond', 'red_hexagon', 'green_hexagon', 'blue_hexagon',
    'yellow_hexagon', 'red_star', 'green_star', 'blue_star', 'yellow_star'))
image_scale = (128, 128)

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=train_ann_file,
        data_prefix=dict(img='train/'),
        metainfo=metainfo,
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=val_ann_file,
        data_prefix=dict(img='val/'),
        metainfo=metainfo,
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='FastLVISMetric', ann_file=data_root + val_ann_file, metric=['bbox', 'segm'])
test_evaluator = val_evaluator
