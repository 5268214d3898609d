"""Model zoo: checkpoints by name, downloaded and verified, loadable in one line.

* :func:`download_checkpoint` -- cached, SHA-256-verified, resumable download of a zoo entry;
* :func:`resolve_checkpoint` -- zoo name / ``zoo://`` name / path / URL to something MMEngine
  loads (``tools/test.py`` uses it);
* :func:`load_checkpoint_by_name`, :func:`init_detector_by_name` -- load into a model, or build
  the entry's detector with its weights;
* ``load_from = 'zoo://<name>'`` in any config (registered MMEngine ``CheckpointLoader`` scheme);
* :func:`convert_d2_state_dict` -- detectron2 (EQL/DropLoss code base) Mask R-CNN weights to
  MMDetection names.

The index is ``configs/*/metafile.yml``; see ``docs/model_zoo.md``.
"""
from .d2_convert import (ConversionResult, compare_shapes, convert_d2_state_dict,
                         derived_config, load_d2_checkpoint)
from .download import (CACHE_ENV, OFFLINE_ENV, ChecksumMismatchError, DownloadError,
                       DownloadInterruptedError, cache_dir, fetch, sha256sum)
from .index import INDEX_ENV, ZooEntry, ZooIndexError, get_entry, load_index
from .loading import (SCHEME, download_checkpoint, init_detector_by_name,
                      load_checkpoint_by_name, load_from_zoo, resolve_checkpoint)

__all__ = [
    'CACHE_ENV', 'INDEX_ENV', 'OFFLINE_ENV', 'SCHEME', 'ChecksumMismatchError',
    'ConversionResult', 'DownloadError', 'DownloadInterruptedError', 'ZooEntry', 'ZooIndexError',
    'cache_dir', 'compare_shapes', 'convert_d2_state_dict', 'derived_config',
    'download_checkpoint', 'fetch', 'get_entry', 'init_detector_by_name', 'load_checkpoint_by_name',
    'load_d2_checkpoint', 'load_from_zoo', 'load_index', 'resolve_checkpoint', 'sha256sum',
]
