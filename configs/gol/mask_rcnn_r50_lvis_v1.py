# Mask R-CNN R50-FPN with GOL (Alexandridis et al., ECCV 2022): DropLoss with the Gumbel
# activation p = exp(-exp(-x)) in the loss and the test scores, in our recipe, LVIS v1.0, no RFS.
# GOL's loss clamps the logits to [-4, 10] (no gradient outside), so the classifier must start
# inside: GOL's init, weights 0.001 and bias -2 (p = 6e-4), not the sigmoid prior's -6.9.
_base_ = '../droploss/mask_rcnn_r50_lvis_v1.py'

gumbel_head_init = [
    dict(type='Constant', val=0.001, bias=-2.0, override=dict(name='fc_cls')),
    *_base_.sigmoid_head_init[1:],
]
model = dict(
    roi_head=dict(
        bbox_head=dict(loss_cls=dict(activation='gumbel'), init_cfg=gumbel_head_init)))
