# RetinaNet R50-FPN with EFL (Equalized Focal Loss, Li et al., CVPR 2022: the focal loss with a
# per-class focusing factor gamma_j = 2 + 8 (1 - g_j) and weighting factor gamma_j / 2, from the
# positive / negative gradient ratio g_j each class has accumulated) on LVIS v1.0, in our
# one-stage recipe: ../extension/retinanet_r50_lvis_v1_focal.py (mmdet's RetinaNet, mmdet's LVIS
# recipe, RFS at 1e-3, 90k iterations at batch 16) with only the loss swapped, so that it
# compares with the focal-loss, EQL and DropLoss configs there. The authors' published numbers
# come from their own recipe (an "improved baseline": ATSS assignment, GIoU, an IoU branch, two
# anchors per location, GN head, prior 0.001, 24 epochs); see docs/heads.md. Not trained here.
_base_ = '../extension/retinanet_r50_lvis_v1_focal.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True, type='EFL', num_classes=_base_.num_classes,
            categories=_base_.categories, use_sigmoid=True, gamma=2.0, alpha=0.25,
            scale_factor=8.0, loss_weight=1.0)))
