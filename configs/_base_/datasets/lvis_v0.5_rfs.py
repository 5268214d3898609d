# LVIS v0.5 with repeat factor sampling at the released code's threshold, 0.0005.
_base_ = './lvis_v0.5.py'

train_dataloader = dict(dataset=dict(_delete_=True, **_base_.rfs_train_dataset))
