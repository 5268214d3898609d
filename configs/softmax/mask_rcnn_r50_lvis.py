# Mask R-CNN R50-FPN with softmax cross-entropy over C + 1 logits (the paper's "Softmax" row),
# LVIS v0.5, no RFS (paper Table 2). The classifier gets mmdet's default init.
_base_ = '../baseline/mask_rcnn_r50_lvis.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True, type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            init_cfg=None)))
