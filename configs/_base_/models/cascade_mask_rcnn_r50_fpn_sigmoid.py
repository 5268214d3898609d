# Cascade Mask R-CNN R50-FPN (mmdet's) with the paper's sigmoid classifier and BCE baseline loss
# in all three stages (see sigmoid_classifier.py). Test: score threshold 1e-4, 300 detections.
_base_ = ['mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py', './sigmoid_classifier.py']

model = dict(
    roi_head=dict(bbox_head=[
        dict(stage, loss_cls=_base_.bce_loss, init_cfg=_base_.sigmoid_head_init)
        for stage in _base_.model.roi_head.bbox_head
    ]),
    test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300)))
