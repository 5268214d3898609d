# Cascade Mask R-CNN R50-FPN, sigmoid BCE in all three stages, LVIS v0.5, no RFS: the root of
# every Cascade config.
_base_ = [
    '../_base_/models/cascade_mask_rcnn_r50_fpn_sigmoid.py', '../_base_/datasets/lvis_v0.5.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(
        bbox_head=[
            dict(stage, num_classes=_base_.num_classes,
                 loss_cls=dict(stage.loss_cls, num_classes=_base_.num_classes))
            for stage in _base_.model.roi_head.bbox_head
        ],
        mask_head=dict(num_classes=_base_.num_classes)))
