# EQL with repeat factor sampling (mmdet's ClassBalancedDataset) on the benchmark set: the
# EQL run's recipe with the training set wrapped. The threshold repeats the categories annotated
# in fewer than 57 training images, as LVIS's t = 0.001 does of its 57k; tools/benchmark.py
# sets the value of the design it runs (mmdet_droploss.benchmark.designs).
_base_ = './mask_rcnn_tiny_eql_bench.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr={{_base_.rfs_threshold}},
        dataset={{_base_.train_dataloader.dataset}}))
