# Mask R-CNN R50-FPN with the federated loss (Zhou et al. 2021, "Probabilistic two-stage
# detection": sigmoid BCE on the batch's classes plus classes drawn with probability
# proportional to sqrt(image_count), 50 in all) in our recipe, LVIS v0.5, no RFS. The classifier
# biases start at the prior 0.01 of the authors' CenterNet2 / Detic code (PRIOR_PROB).
_base_ = '../baseline/mask_rcnn_r50_lvis.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='FederatedLoss', num_classes=_base_.num_classes,
                categories=_base_.categories),
            init_cfg=[dict(_base_.sigmoid_head_init[0], bias_prob=0.01),
                      *_base_.sigmoid_head_init[1:]])))
