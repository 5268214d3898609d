# Mask R-CNN R50-FPN with BEQL (paper eq. 4), log base b = 4 (Table 3: 25.2 AP), LVIS v0.5.
# The other b of the sweep inherit this file.
_base_ = '../baseline/mask_rcnn_r50_lvis.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='BEQL',
                log_base=4.0,
                num_classes=_base_.num_classes,
                categories=_base_.categories))))
