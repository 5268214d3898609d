# The BCE baseline (plain sigmoid BCE over the 60 class logits: mmdet's
# CrossEntropyCustomLoss) on the LVIS-regime benchmark set: tools/benchmark.py.
_base_ = ['./_base_/mask_rcnn_tiny_60.py', './_base_/lvis_regime.py', './_base_/schedule_bench.py']
