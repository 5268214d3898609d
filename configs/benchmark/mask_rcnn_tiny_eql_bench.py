# EQL on the LVIS-regime benchmark set (the DropLoss config with the loss type swapped).
_base_ = './mask_rcnn_tiny_droploss_bench.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(type='EQL'))))
