# Mask R-CNN (tiny) with EQLv2 on the synthetic long-tailed demo set: the DropLoss demo with the
# loss type swapped; the head gets C + 1 outputs (objectness last) from the loss and mmdet's
# default classifier init (biases 0), as in the EQLv2 configs.
_base_ = './mask_rcnn_tiny_droploss_demo.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(type='EQLv2'), init_cfg=None)))
