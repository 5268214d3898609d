# Mask R-CNN R50-FPN with ECM (Cho and Krähenbühl, ECCV 2022: C + 1 sigmoid logits, the last an
# objectness channel, margins and weights from LVIS v1's image counts, fg_bg_ratio 6.3313) in our
# recipe, LVIS v1.0, no RFS. The classifier gets mmdet's default init (biases 0), as in the
# authors' code. Their published models also normalise the classifier and the mask predictor and
# train 1x/2x with RFS at 0.001: see mask_rcnn_r50_lvis_v1_rfs_normed.py and docs/ecm_and_gol.md.
# The EQLv2 config has that head (C + 1 outputs from the loss, default init): the loss swapped.
_base_ = '../eqlv2/mask_rcnn_r50_lvis_v1.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(type='ECM'))))
