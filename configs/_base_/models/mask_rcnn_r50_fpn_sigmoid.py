# Mask R-CNN R50-FPN (mmdet's) with the paper's sigmoid classifier and BCE baseline loss (see
# sigmoid_classifier.py). RPN: 256 anchors at 1:1; RoI head: 512 proposals per image at 1:3
# (mmdet's defaults, as in the paper). Test: score threshold 1e-4 and 300 detections per image,
# as LVIS evaluation expects. The dataset base sets `num_classes`; method configs swap loss_cls.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './sigmoid_classifier.py']

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(_delete_=True, **_base_.bce_loss),
            init_cfg=_base_.sigmoid_head_init)),
    test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300)))
