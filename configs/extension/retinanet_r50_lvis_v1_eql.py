# EXTENSION BEYOND THE PAPER: RetinaNet R50-FPN, LVIS v1.0, EQL's weights over the head's own
# sigmoid focal loss (gamma 2, alpha 0.25); otherwise retinanet_r50_lvis_v1_focal.py. Foreground
# anchors do not push down other tail classes; background anchors keep every term.
_base_ = './retinanet_r50_lvis_v1_focal.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True, type='EQL', num_classes=_base_.num_classes,
            categories=_base_.categories, use_sigmoid=True, gamma=2.0, alpha=0.25,
            loss_weight=1.0)))
