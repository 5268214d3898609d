# Cascade Mask R-CNN R50-FPN with DropLoss (paper eq. 5-7, the released code's behaviour for frequent classes) in all three stages, LVIS v0.5, no RFS (paper Table 1).
_base_ = '../baseline/cascade_mask_rcnn_r50_lvis.py'

model = dict(
    roi_head=dict(bbox_head=[
        dict(stage, loss_cls=dict(type='DropLoss', num_classes=_base_.num_classes, categories=_base_.categories))
        for stage in _base_.model.roi_head.bbox_head
    ]))
