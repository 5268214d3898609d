# ECM (Cho and Krähenbühl, ECCV 2022) on the LVIS-regime benchmark set, an extra row: the EQLv2
# config (C + 1 outputs from the loss, mmdet's default classifier init spelled out, as its
# authors and configs/ecm/ do) with the loss type swapped. The margins come from the benchmark
# set's image counts.
_base_ = './mask_rcnn_tiny_eqlv2_bench.py'

model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(type='ECM'))))
