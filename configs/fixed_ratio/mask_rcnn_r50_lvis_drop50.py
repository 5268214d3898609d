# The paper's fixed drop-ratio baseline (Fig. 3): tail columns of background rows dropped with a
# fixed probability (here 0.5) instead of DropLoss's batch ratio. LVIS v0.5, Mask R-CNN R50-FPN.
# The other ratios of the sweep inherit this file.
_base_ = '../droploss/mask_rcnn_r50_lvis.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(drop_ratio=0.5))))
