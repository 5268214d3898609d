# Mask R-CNN scaled down for CPU: ResNet-18 with 16 base channels, 64-channel FPN, 64 RoIs per
# image, 2-conv mask head, anchors sized for 18-44 px objects on 128 px images. Trained from
# scratch (no pretrained download), so normalisation layers train too. The classifier is the
# paper's C-logit sigmoid head with the BCE baseline loss; the method configs swap `loss_cls`.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

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
            loss_cls=dict(
                _delete_=True,
                type='CrossEntropyCustomLoss',
                use_sigmoid=True,
                num_classes=num_classes,
                loss_weight=1.0),
            # the paper's prior-probability bias init (pi = 0.001) for the C sigmoid logits
            init_cfg=[
                dict(type='Normal', std=0.01, bias_prob=0.001, override=dict(name='fc_cls')),
                dict(type='Normal', std=0.001, override=dict(name='fc_reg')),
                dict(type='Xavier', distribution='uniform',
                     override=[dict(name='shared_fcs'), dict(name='cls_fcs'),
                               dict(name='reg_fcs')]),
            ]),
        mask_roi_extractor=dict(roi_layer=dict(output_size=7), out_channels=64),
        mask_head=dict(
            num_convs=2, in_channels=64, conv_out_channels=64, num_classes=num_classes)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=64), mask_size=14)),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=200),
        # LVIS evaluation settings of the paper: score threshold 1e-4, 300 detections.
        rcnn=dict(score_thr=0.0001, max_per_img=300)))
