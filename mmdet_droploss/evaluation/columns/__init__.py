"""Detections as numpy columns (layer 0 of the evaluation: nothing here knows LVIS's rules).

``detection_arrays``: one iou type's detections as columns, masks packed; ``column_store``: the
metric's per-image records joined into them, in memory or in files; ``mapped_files``: columns
that map files travel to a pool's workers as the files' names.
"""
from .column_store import (ColumnStore, FileColumnStore, RecordStream, detections_of,
                           exchange_size, records_to_arrays, records_to_detections)
from .detection_arrays import (DetectionArrays, PackedRLE, Selection, counts_per_category,
                               packed, resolved, rows_of_categories, xywh)
from .mapped_files import exchange_dir, pickled_by_file_name

__all__ = ['ColumnStore', 'DetectionArrays', 'FileColumnStore', 'PackedRLE', 'RecordStream',
           'Selection', 'counts_per_category', 'detections_of', 'exchange_dir',
           'exchange_size', 'packed', 'pickled_by_file_name', 'records_to_arrays',
           'records_to_detections', 'resolved', 'rows_of_categories', 'xywh']
