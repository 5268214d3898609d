# Mask R-CNN R50-FPN with EQL (Tan et al. 2020, paper eq. 1-2), LVIS v0.5, no RFS (paper Tables 1-2).
_base_ = '../baseline/mask_rcnn_r50_lvis.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='EQL', num_classes=_base_.num_classes, categories=_base_.categories))))
