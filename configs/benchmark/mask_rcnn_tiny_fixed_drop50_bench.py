# The fixed drop-ratio baseline of the paper's Fig. 3 at 0.5 (tail classes on background
# proposals kept with probability 0.5, whatever the batch) on the LVIS-regime benchmark set.
_base_ = './mask_rcnn_tiny_droploss_bench.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(drop_ratio=0.5))))
