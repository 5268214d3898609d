# Mask R-CNN R50-FPN with mmdet's Seesaw loss (Wang et al., CVPR 2021; p 0.8, q 2) and the
# normalised-linear classifier (temperature 20) its authors use with it, as in mmdet's
# configs/seesaw_loss/, in our recipe, LVIS v0.5, no RFS. Softmax-type head: mmdet's default
# init (no sigmoid prior). `tempearture` is mmdet's own spelling of the argument.
_base_ = '../baseline/mask_rcnn_r50_lvis.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
            loss_cls=dict(
                _delete_=True,
                type='SeesawLoss', use_sigmoid=False, p=0.8, q=2.0,
                num_classes=_base_.num_classes, loss_weight=1.0),
            init_cfg=None)))
