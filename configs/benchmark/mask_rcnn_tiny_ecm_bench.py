# ECM (Cho and Krähenbühl, ECCV 2022) on the LVIS-regime benchmark set, an extra row: the DropLoss
# config with the loss type swapped; the head gets C + 1 outputs (objectness last) from the loss
# and mmdet's default classifier init (biases 0, spelled out as in the EQLv2 config), as its
# authors and configs/ecm/ do. The margins come from the benchmark set's image counts.
_base_ = './mask_rcnn_tiny_droploss_bench.py'

model = dict(roi_head=dict(bbox_head=dict(
    loss_cls=dict(type='ECM'),
    init_cfg=[dict(_base_.sigmoid_head_init[0], bias_prob=None),
              *_base_.sigmoid_head_init[1:]])))
