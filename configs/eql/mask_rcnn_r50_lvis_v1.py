# Mask R-CNN R50-FPN with EQL (Tan et al. 2020, paper eq. 1-2), LVIS v1.0, no RFS (paper Table 2).
_base_ = '../baseline/mask_rcnn_r50_lvis_v1.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='EQL', num_classes=_base_.num_classes, categories=_base_.categories))))
