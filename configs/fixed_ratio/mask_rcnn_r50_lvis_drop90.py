# Fixed drop ratio 0.90; see mask_rcnn_r50_lvis_drop50.py.
_base_ = './mask_rcnn_r50_lvis_drop50.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(drop_ratio=0.9))))
