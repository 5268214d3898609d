# Mask R-CNN R50-FPN with the federated loss (see mask_rcnn_r50_lvis.py), LVIS v1.0, no RFS.
_base_ = '../baseline/mask_rcnn_r50_lvis_v1.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='FederatedLoss', num_classes=_base_.num_classes,
                categories=_base_.categories),
            init_cfg=[dict(_base_.sigmoid_head_init[0], bias_prob=0.01),
                      *_base_.sigmoid_head_init[1:]])))
