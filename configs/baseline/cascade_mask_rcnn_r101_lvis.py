# Cascade Mask R-CNN R101-FPN, sigmoid BCE, LVIS v0.5, no RFS (paper Table 1).
_base_ = './cascade_mask_rcnn_r50_lvis.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
