# Mask R-CNN R50-FPN, sigmoid BCE over the C logits (the paper's "BCE"/"Sigmoid" rows), LVIS
# v0.5, no repeat factor sampling, the paper's 90k-iteration schedule. The root of every Mask
# R-CNN LVIS v0.5 config: the method folders inherit it and replace `loss_cls`.
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_sigmoid.py', '../_base_/datasets/lvis_v0.5.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(
        bbox_head=dict(
            num_classes=_base_.num_classes,
            loss_cls=dict(num_classes=_base_.num_classes)),
        mask_head=dict(num_classes=_base_.num_classes)))
