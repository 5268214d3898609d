# BEQL with log base b = 5 (Table 3: 25.1 AP); see mask_rcnn_r50_lvis_b4.py.
_base_ = './mask_rcnn_r50_lvis_b4.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(log_base=5.0))))
