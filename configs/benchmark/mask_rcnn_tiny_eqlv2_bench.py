# EQLv2 (Tan et al., CVPR 2021) on the LVIS-regime benchmark set, an extra row (issue 14): the
# DropLoss config with the loss type swapped; the head gets C + 1 outputs (objectness last) from
# the loss and mmdet's default classifier init (biases 0), as its authors and configs/eqlv2/ do.
# The init is spelled out (mmdet's defaults, fc_cls bias 0) so that a benchmark design can give
# every method the same classifier prior (designs.CLASSIFIER_PRIOR).
_base_ = './mask_rcnn_tiny_droploss_bench.py'

model = dict(roi_head=dict(bbox_head=dict(
    loss_cls=dict(type='EQLv2'),
    init_cfg=[dict(_base_.sigmoid_head_init[0], bias_prob=None),
              *_base_.sigmoid_head_init[1:]])))
