# Mask R-CNN scaled down for CPU: ResNet-18 with 16 base channels, 64-channel FPN, 64 RoIs per
# image, 2-conv mask head, anchors sized for 18-44 px objects on 128 px images. Trained from
# scratch (no pretrained download), so normalisation layers train too. The classifier is the
# paper's C-logit sigmoid head with the BCE baseline loss (from the LVIS model base); the demo
# method configs swap `loss_cls`.
_base_ = '../../_base_/models/mask_rcnn_r50_fpn_sigmoid.py'

num_classes = 20
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64),
    rpn_head=dict(
        in_channels=64,
        feat_channels=64,
        anchor_generator=dict(scales=[5])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(
            in_channels=64,
            fc_out_channels=256,
            num_classes=num_classes,
            loss_cls=dict(num_classes=num_classes)),
        mask_roi_extractor=dict(roi_layer=dict(output_size=7), out_channels=64),
        mask_head=dict(
            num_convs=2, in_channels=64, conv_out_channels=64, num_classes=num_classes)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=64), mask_size=14)),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=200)))
