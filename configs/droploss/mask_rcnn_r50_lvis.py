# Mask R-CNN R50-FPN with DropLoss (paper eq. 5-7, the released code's behaviour for frequent classes), LVIS v0.5, no RFS (the paper's headline row).
_base_ = '../baseline/mask_rcnn_r50_lvis.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='DropLoss', num_classes=_base_.num_classes, categories=_base_.categories))))
