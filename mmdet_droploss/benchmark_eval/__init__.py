"""The evaluation benchmark behind ``tools/benchmark_eval.py`` (not part of the metric): the
timing of both back ends on results files or a generated LVIS-v1-like set (``timing``), its
tables (``tables``), and each run measured in a process of its own (``measured_run``)."""
