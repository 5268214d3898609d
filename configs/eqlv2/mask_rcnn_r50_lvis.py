# Mask R-CNN R50-FPN with EQLv2 (Tan et al., CVPR 2021: C + 1 sigmoid logits, the last an
# objectness channel, gradient-guided weights with gamma 12, mu 0.8, alpha 4) in our recipe,
# LVIS v0.5, no RFS. The classifier gets mmdet's default init (biases 0), as in the authors'
# code; not the DropLoss paper's prior-probability bias.
_base_ = '../baseline/mask_rcnn_r50_lvis.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='EQLv2', num_classes=_base_.num_classes, categories=_base_.categories),
            init_cfg=None)))
