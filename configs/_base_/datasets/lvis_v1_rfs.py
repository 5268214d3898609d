# LVIS v1.0 with repeat factor sampling at threshold 0.0005.
_base_ = './lvis_v1.py'

train_dataloader = dict(dataset=dict(_delete_=True, **_base_.rfs_train_dataset))
