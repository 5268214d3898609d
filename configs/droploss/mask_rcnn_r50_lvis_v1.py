# Mask R-CNN R50-FPN with DropLoss (paper eq. 5-7, the released code's behaviour for frequent classes), LVIS v1.0, no RFS (paper Table 2).
_base_ = '../baseline/mask_rcnn_r50_lvis_v1.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='DropLoss', num_classes=_base_.num_classes, categories=_base_.categories))))
