# Mask R-CNN R50-FPN, EQLv2, LVIS v0.5, repeat factor sampling at 0.0005 (our recipe).
_base_ = './mask_rcnn_r50_lvis.py'

train_dataloader = dict(dataset=dict(_delete_=True, **_base_.rfs_train_dataset))
