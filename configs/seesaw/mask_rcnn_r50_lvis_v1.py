# Mask R-CNN R50-FPN with the Seesaw loss (see mask_rcnn_r50_lvis.py), LVIS v1.0, no RFS.
# mmdet publishes 25.0 mask AP for its own 2x version of this model (see docs/experiments.md).
_base_ = '../baseline/mask_rcnn_r50_lvis_v1.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
            loss_cls=dict(
                _delete_=True,
                type='SeesawLoss', use_sigmoid=False, p=0.8, q=2.0,
                num_classes=_base_.num_classes, loss_weight=1.0),
            init_cfg=None)))
