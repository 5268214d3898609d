# Mask R-CNN R50-FPN, sigmoid BCE (the paper's v1.0 "Baseline" rows), LVIS v1.0, no RFS: the
# root of every Mask R-CNN LVIS v1.0 config.
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_sigmoid.py', '../_base_/datasets/lvis_v1.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(
        bbox_head=dict(
            num_classes=_base_.num_classes,
            loss_cls=dict(num_classes=_base_.num_classes)),
        mask_head=dict(num_classes=_base_.num_classes)))
