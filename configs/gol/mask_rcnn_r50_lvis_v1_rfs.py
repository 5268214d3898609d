# Mask R-CNN R50-FPN, GOL (Gumbel DropLoss), LVIS v1.0, repeat factor sampling at 0.0005 (our
# recipe).
_base_ = './mask_rcnn_r50_lvis_v1.py'

train_dataloader = dict(dataset=dict(_delete_=True, **_base_.rfs_train_dataset))
