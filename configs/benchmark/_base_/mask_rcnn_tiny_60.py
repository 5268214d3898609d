# The demo's tiny Mask R-CNN (ResNet-18/16, 64-channel FPN, trained from scratch) with the
# benchmark set's 60 classes and the BCE baseline (sigmoid BCE over the C logits); the method
# configs swap loss_cls and nothing else.
_base_ = '../../demo/_base_/mask_rcnn_tiny.py'

num_classes = 60
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=num_classes, loss_cls=dict(num_classes=num_classes)),
        mask_head=dict(num_classes=num_classes)))
