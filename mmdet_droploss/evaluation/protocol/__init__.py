"""LVIS's evaluation rules (layer 1), in numpy, one implementation each: the per-image cap and
every other best-k-per-group cut (``ranking``), the federated (image, category) pair keys
(``pair_keys``), the summary statistics and the metric's names (``summary``), AP-Fixed's
per-class budget (``fixed_ap``) and AP-Pool's accumulation (``pooled_ap``). No evaluator here:
the back ends (``backends/``) match detections to ground truth."""
