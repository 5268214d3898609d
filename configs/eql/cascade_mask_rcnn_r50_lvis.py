# Cascade Mask R-CNN R50-FPN with EQL (Tan et al. 2020, paper eq. 1-2) in all three stages, LVIS v0.5, no RFS (paper Table 1).
_base_ = '../baseline/cascade_mask_rcnn_r50_lvis.py'

model = dict(
    roi_head=dict(bbox_head=[
        dict(stage, loss_cls=dict(type='EQL', num_classes=_base_.num_classes, categories=_base_.categories))
        for stage in _base_.model.roi_head.bbox_head
    ]))
