"""Checkpoints by name: download, resolve, load, and the ``zoo://`` MMEngine scheme.

Once :mod:`mmdet_droploss` is imported, any config can say ``load_from = 'zoo://<name>'`` (and
``init_cfg=dict(type='Pretrained', checkpoint='zoo://<name>')``): MMEngine's ``CheckpointLoader``
downloads the file into the cache, verifies its SHA-256, and loads it with
``torch.load(weights_only=True)`` (:mod:`mmdet_droploss.compat.checkpoint`).
"""
import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

from mmengine.runner.checkpoint import CheckpointLoader

from ..compat.checkpoint import load_checkpoint_file
from .download import fetch
from .index import ZooEntry, ZooIndexError, get_entry, load_index

__all__ = ['SCHEME', 'download_checkpoint', 'init_detector_by_name', 'load_checkpoint_by_name',
           'load_from_zoo', 'resolve_checkpoint']

SCHEME = 'zoo://'


def download_checkpoint(name: str, *, cache_dir: Optional[Union[str, Path]] = None,
                        progress: Optional[bool] = None,
                        offline: Optional[bool] = None) -> Path:
    """Path of the verified checkpoint of zoo model ``name``, downloaded if not cached.

    See :func:`mmdet_droploss.model_zoo.download.fetch` for the guarantees and errors.
    """
    entry = get_entry(_strip_scheme(name))
    return fetch(entry.weights, entry.sha256, file_name=entry.file_name, directory=cache_dir,
                 progress=progress, offline_only=offline)


def _strip_scheme(name: str) -> str:
    return name[len(SCHEME):] if name.startswith(SCHEME) else name


def _entry_for_url(url: str, index: Dict[str, ZooEntry]) -> Optional[ZooEntry]:
    return next((e for e in index.values() if e.weights == url), None)


def resolve_checkpoint(name_or_path_or_url: str) -> str:
    """A path or URL MMEngine can load, from a zoo name, ``zoo://`` name, path or URL.

    * an existing local path is returned as it is (a path wins over a zoo name);
    * ``zoo://<name>`` and bare zoo names are downloaded (or taken from the cache) and verified;
      the cached file's path is returned;
    * a URL that is the ``Weights`` of a zoo entry is fetched and verified like that entry;
    * any other URL or scheme (``https://``, ``s3://``, ``torchvision://``, ...) is returned
      unchanged for MMEngine's loaders.

    Raises:
        ZooIndexError: not a file, not a URL, and not a zoo name (close names are suggested).
    """
    spec = str(name_or_path_or_url)
    if spec.startswith(SCHEME):
        return str(download_checkpoint(spec))
    if os.path.exists(os.path.expanduser(spec)):
        return os.path.expanduser(spec)
    if '://' in spec:
        if spec.startswith(('http://', 'https://')):
            entry = _entry_for_url(spec, load_index())
            if entry is not None:
                return str(download_checkpoint(entry.name))
        return spec
    try:
        entry = get_entry(spec)
    except ZooIndexError as err:
        raise ZooIndexError(f'{spec!r} is neither an existing file, a URL, nor a model-zoo '
                            f'name. {err}') from None
    return str(download_checkpoint(entry.name))


def load_from_zoo(filename: str, map_location: Any = None) -> Any:
    """MMEngine ``CheckpointLoader`` scheme for ``zoo://<name>``.

    Every process fetches through a file lock: one downloads, the others wait and then verify the
    cached copy, so distributed runs need no extra barrier.
    """
    return load_checkpoint_file(download_checkpoint(filename), map_location)


def load_checkpoint_by_name(model: Any, name: str, map_location: Any = 'cpu', strict: bool = False,
                            logger: Any = 'current', **kwargs: Any) -> Dict[str, Any]:
    """Load a zoo checkpoint (or any path/URL) into ``model``; returns the checkpoint dict.

    A thin wrapper over :func:`mmengine.runner.load_checkpoint` after :func:`resolve_checkpoint`.
    """
    from mmengine.runner import load_checkpoint
    return load_checkpoint(model, resolve_checkpoint(name), map_location=map_location,
                           strict=strict, logger=logger, **kwargs)


def init_detector_by_name(name: str, config: Optional[Union[str, Path]] = None,
                          device: str = 'cpu', cfg_options: Optional[dict] = None) -> Any:
    """Build the detector of zoo entry ``name`` and load its verified weights, in one call.

    ``config`` overrides the entry's own ``Config``. Returns the model in eval mode, ready for
    :func:`mmdet.apis.inference_detector`.
    """
    from mmdet.apis import init_detector
    entry = get_entry(_strip_scheme(name))
    config = config or entry.config_path
    if config is None:
        raise ZooIndexError(f'Zoo entry {entry.name!r} names no Config; pass config=...')
    if not Path(config).is_file():
        raise FileNotFoundError(f'Config {config} of zoo entry {entry.name!r} does not exist '
                                f'(declared in {entry.metafile}).')
    return init_detector(str(config), resolve_checkpoint(SCHEME + entry.name), device=device,
                         cfg_options=cfg_options)


CheckpointLoader.register_scheme(prefixes=SCHEME, loader=load_from_zoo, force=True)
