# Mask R-CNN (tiny) with EQL on the synthetic long-tailed demo set (compare with DropLoss): the
# DropLoss demo with the loss type swapped (both take num_classes and categories).
_base_ = './mask_rcnn_tiny_droploss_demo.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(type='EQL'))))
