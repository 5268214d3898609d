# Mask R-CNN R50-FPN with EQLv2 (see mask_rcnn_r50_lvis.py), LVIS v1.0, no RFS. The authors
# publish 23.7 mask AP / 14.9 APr for this model with mmdet's 1x schedule (see docs/experiments.md).
_base_ = '../baseline/mask_rcnn_r50_lvis_v1.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='EQLv2', num_classes=_base_.num_classes, categories=_base_.categories),
            init_cfg=None)))
