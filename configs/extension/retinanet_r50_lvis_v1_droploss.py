# EXTENSION BEYOND THE PAPER: RetinaNet R50-FPN, LVIS v1.0, DropLoss's weights over the head's
# own sigmoid focal loss (gamma 2, alpha 0.25); otherwise retinanet_r50_lvis_v1_focal.py. On a
# background anchor, a tail class keeps its term with probability n_tail / n_fg counted over the
# foreground anchors of the loss call (RetinaNet calls its loss once per FPN level).
_base_ = './retinanet_r50_lvis_v1_focal.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True, type='DropLoss', num_classes=_base_.num_classes,
            categories=_base_.categories, use_sigmoid=True, gamma=2.0, alpha=0.25,
            loss_weight=1.0)))
