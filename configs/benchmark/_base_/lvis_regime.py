# The benchmark's synthetic long-tailed set in LVIS's regime (mmdet_droploss.datasets.lvis_regime,
# written by tools/benchmark.py or tools/generate_demo_dataset.py --lvis-regime). Same pipeline
# and loaders as the demo set; only the files and the 60 categories differ.
# Its location can be changed without editing configs: MMDET_DROPLOSS_BENCH_DATA=/some/dir
_base_ = '../../demo/_base_/lvis_demo.py'

# With or without the trailing slash, as the demo set's (configs/demo/_base_/lvis_demo.py).
data_root = '{{$MMDET_DROPLOSS_BENCH_DATA:data/lvis_regime}}'.rstrip('/') + '/'
train_ann_file = 'annotations/lvis_bench_train.json'
val_ann_file = 'annotations/lvis_bench_val.json'
category_file = data_root + train_ann_file
# Category names in id order (most frequent first), as
# mmdet_droploss.datasets.lvis_regime.category_attributes(LVISRegimeSpec().train_image_counts)
# generates them.
metainfo = dict(classes=(
    'dark_red_solid_triangle', 'light_red_solid_triangle', 'dark_yellow_solid_circle',
    'light_yellow_solid_circle', 'dark_yellow_solid_triangle', 'light_yellow_solid_triangle',
    'dark_purple_solid_circle', 'light_purple_solid_circle', 'dark_red_solid_circle',
    'light_red_solid_circle', 'dark_green_solid_hexagon', 'light_green_solid_hexagon',
    'dark_purple_solid_diamond', 'light_purple_solid_diamond', 'dark_blue_solid_circle',
    'light_green_striped_square', 'dark_yellow_striped_square', 'light_green_striped_circle',
    'light_blue_striped_diamond', 'light_blue_striped_square', 'dark_red_striped_diamond',
    'light_blue_striped_triangle', 'dark_purple_striped_star', 'light_purple_striped_star',
    'dark_green_striped_hexagon', 'dark_red_striped_square', 'light_red_striped_triangle',
    'dark_purple_striped_diamond', 'dark_yellow_striped_diamond', 'dark_yellow_striped_circle',
    'dark_red_striped_triangle', 'light_purple_striped_square', 'light_purple_striped_triangle',
    'dark_yellow_striped_hexagon', 'dark_blue_striped_diamond', 'light_red_striped_hexagon',
    'dark_green_striped_triangle', 'dark_blue_striped_square', 'light_yellow_striped_diamond',
    'light_yellow_striped_square', 'light_purple_striped_hexagon',
    'light_yellow_striped_triangle', 'dark_purple_striped_hexagon', 'dark_blue_striped_star',
    'light_blue_striped_star', 'dark_purple_striped_square', 'light_purple_striped_circle',
    'light_purple_striped_diamond', 'light_blue_striped_hexagon', 'light_red_striped_circle',
    'dark_red_striped_circle', 'dark_purple_striped_circle', 'dark_green_striped_star',
    'light_red_striped_square', 'light_red_striped_diamond', 'dark_green_striped_square',
    'dark_blue_striped_circle', 'dark_red_striped_star', 'light_yellow_striped_circle',
    'dark_yellow_striped_star'))

train_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file=train_ann_file, metainfo=metainfo))
val_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file=val_ann_file, metainfo=metainfo))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + val_ann_file)
test_evaluator = val_evaluator
# Repeat factor sampling (the *_rfs_bench.py configs): categories annotated in fewer than 57 of
# the 720 training images are repeated, LVIS's t = 0.001 of its 57k images scaled to the split.
rfs_threshold = 57 / 720
