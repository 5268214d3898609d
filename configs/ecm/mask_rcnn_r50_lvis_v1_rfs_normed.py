# Mask R-CNN R50-FPN, ECM, LVIS v1.0, RFS at 0.0005, with the authors' normalised heads: a cosine
# classifier (mmdet's NormedLinear, temperature 20) and a cosine mask predictor (NormedConv2d,
# temperature 20), as in janghyuncho/ECM-Loss configs/effective_class_margin_loss/. Schedule and
# RFS threshold stay ours (the authors: 12 or 24 epochs, RFS 0.001, gradient clipping at 5).
_base_ = './mask_rcnn_r50_lvis_v1_rfs.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(cls_predictor_cfg=dict(type='NormedLinear', tempearture=20)),
        mask_head=dict(predictor_cfg=dict(type='NormedConv2d', tempearture=20))))
