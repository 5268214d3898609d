# DropLoss as the paper's eq. 7 states it: frequent columns of background rows are dropped too,
# kept with probability n_frequent / n_all (the released code keeps them; see docs/losses.md).
_base_ = './mask_rcnn_r50_lvis.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(drop_frequent=True))))
