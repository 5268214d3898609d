# BEQL with log base b = 4 (one of the paper's two best) on the LVIS-regime benchmark set.
_base_ = './mask_rcnn_tiny_droploss_bench.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(type='BEQL', log_base=4.0))))
