"""The model index: checkpoints listed in ``configs/*/metafile.yml`` (MMDetection's format).

A metafile is the YAML that OpenMMLab's ``mim`` reads::

    Models:
      - Name: mask-rcnn_r50_fpn_sample1e-3_ms-2x_lvis-v0.5
        In Collection: Mask R-CNN
        Config: mmdet::lvis/mask-rcnn_r50_fpn_sample1e-3_ms-2x_lvis-v0.5.py
        Metadata: {Training Data: LVIS v0.5, Epochs: 24}
        Results:
          - {Task: Instance Segmentation, Dataset: LVIS v0.5, Metrics: {mask AP: 25.9}}
        Weights: https://download.openmmlab.com/.../mask_rcnn_..._lvis-dbd06831.pth
        Weights SHA256: dbd06831          # optional, see below

The expected SHA-256 of the weights is ``Weights SHA256`` (all 64 hex digits, or a prefix of at
least 8) when given; otherwise the ``-<hex>`` suffix of the file name, the prefix OpenMMLab's
``publish_model`` appends (``..._lvis-dbd06831.pth``). An entry with neither is rejected: nothing is
downloaded that cannot be verified.

``Config`` is ``package::path`` (a config shipped inside an installed package, as in
``_base_ = 'mmdet::...'``), an absolute path, or a path relative to the repository holding the
metafile (``configs/baseline/x.py``).

The index is read from ``$MMDET_DROPLOSS_ZOO_INDEX`` (directories searched for
``metafile.yml`` and ``*/metafile.yml``, or metafile paths, separated by ``os.pathsep``) or, by
default, from this repository's ``configs/`` directory.
"""
import dataclasses
import difflib
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union
from urllib.parse import urlparse

import yaml

from ..resources import configs_root

__all__ = ['INDEX_ENV', 'ZooEntry', 'ZooIndexError', 'default_index_paths', 'get_entry',
           'load_index', 'sha256_from_file_name']

INDEX_ENV = 'MMDET_DROPLOSS_ZOO_INDEX'
_HEX = re.compile(r'^[0-9a-f]{8,64}$')
_NAME_HASH = re.compile(r'-([0-9a-f]{8,64})\.[A-Za-z0-9]+$')


class ZooIndexError(ValueError):
    """A metafile is malformed, or a name is not in the index."""


def sha256_from_file_name(file_name: str) -> Optional[str]:
    """The SHA-256 prefix in an OpenMMLab-published name (``x-dbd06831.pth``), if any."""
    match = _NAME_HASH.search(file_name)
    return match.group(1) if match else None


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One checkpoint of the index."""

    name: str
    weights: str
    sha256: str  # lowercase hex: the full digest or a prefix of at least 8 digits
    config: Optional[str]
    metafile: Path
    collection: Optional[str] = None
    metadata: Dict[str, Any] = dataclasses.field(default_factory=dict)
    results: List[Dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def file_name(self) -> str:
        """File name of the weights in the cache (the URL's last path component)."""
        return os.path.basename(urlparse(self.weights).path)

    @property
    def config_path(self) -> Optional[Path]:
        """The config file as a local path (``None`` when the entry names none)."""
        if not self.config:
            return None
        if '::' in self.config:
            from ..resources import scoped_config_path
            return scoped_config_path(self.config)
        path = Path(self.config).expanduser()
        if path.is_absolute():
            return path
        for root in self.metafile.resolve().parents:  # the repository holding the metafile
            if (root / path).exists():
                return root / path
        return path

    def metrics(self) -> Dict[str, float]:
        """Published metrics, keyed ``'<Dataset>/<metric>'`` (e.g. ``'LVIS v0.5/mask AP'``)."""
        out = {}
        for result in self.results:
            for metric, value in (result.get('Metrics') or {}).items():
                out[f"{result.get('Dataset', '')}/{metric}"] = value
        return out


def _parse_entry(model: Dict[str, Any], metafile: Path) -> ZooEntry:
    where = f'{metafile}'
    if not isinstance(model, dict) or not model.get('Name'):
        raise ZooIndexError(f'{where}: every item of "Models" needs a "Name".')
    name = str(model['Name'])
    where = f'{metafile}, model {name!r}'
    weights = model.get('Weights')
    if not isinstance(weights, str) or urlparse(weights).scheme not in ('http', 'https'):
        raise ZooIndexError(f'{where}: "Weights" must be an http(s) URL, got {weights!r}.')
    file_hash = sha256_from_file_name(os.path.basename(urlparse(weights).path))
    declared = model.get('Weights SHA256')
    if declared is not None:
        declared = str(declared).strip().lower()
        if not _HEX.match(declared):
            raise ZooIndexError(f'{where}: "Weights SHA256" must be 8 to 64 hex digits of the '
                                f'file\'s SHA-256, got {model["Weights SHA256"]!r}.')
        if file_hash and not (declared.startswith(file_hash) or file_hash.startswith(declared)):
            raise ZooIndexError(f'{where}: "Weights SHA256" {declared} contradicts the hash '
                                f'{file_hash} in the file name.')
    sha256 = declared if declared and len(declared) >= len(file_hash or '') else file_hash
    if not sha256:
        raise ZooIndexError(
            f'{where}: no hash to verify the download against. Add "Weights SHA256: <hex>" '
            "(run `sha256sum` on the file) or publish it with a '-<8 hex>' suffix in its name.")
    results = model.get('Results') or []
    if isinstance(results, dict):
        results = [results]
    return ZooEntry(name=name, weights=weights, sha256=sha256, config=model.get('Config'),
                    metafile=metafile, collection=model.get('In Collection'),
                    metadata=dict(model.get('Metadata') or {}), results=list(results))


def _read_metafile(path: Path) -> List[ZooEntry]:
    try:
        with open(path, encoding='utf-8') as f:
            content = yaml.safe_load(f) or {}
    except yaml.YAMLError as err:
        raise ZooIndexError(f'{path} is not valid YAML: {err}') from err
    if not isinstance(content, dict):
        raise ZooIndexError(f'{path}: expected a mapping with a "Models" list.')
    models = content.get('Models') or []
    if not isinstance(models, list):
        raise ZooIndexError(f'{path}: "Models" must be a list.')
    return [_parse_entry(model, path) for model in models]


def default_index_paths() -> List[Path]:
    """The metafiles that make up the index (see the module docstring)."""
    env = os.environ.get(INDEX_ENV)
    # Default: the configs shipped in mmdet_droploss/.mim/ (a checkout's own configs/ without it).
    roots = [Path(p).expanduser() for p in env.split(os.pathsep) if p] if env else [
        configs_root()]
    files: List[Path] = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(sorted(root.glob('metafile.yml')) + sorted(root.glob('*/metafile.yml')))
        elif env:
            raise ZooIndexError(f'{INDEX_ENV} names {root}, which does not exist.')
    return files


def load_index(paths: Optional[Sequence[Union[str, Path]]] = None) -> Dict[str, ZooEntry]:
    """All entries of the index by name (``paths`` defaults to :func:`default_index_paths`)."""
    index: Dict[str, ZooEntry] = {}
    for path in (default_index_paths() if paths is None else [Path(p) for p in paths]):
        for entry in _read_metafile(Path(path)):
            if entry.name in index:
                raise ZooIndexError(f'Model name {entry.name!r} is defined twice: in '
                                    f'{index[entry.name].metafile} and {entry.metafile}.')
            index[entry.name] = entry
    return index


def get_entry(name: str, index: Optional[Dict[str, ZooEntry]] = None) -> ZooEntry:
    """The entry called ``name``; the error suggests close names."""
    index = load_index() if index is None else index
    if name in index:
        return index[name]
    close = difflib.get_close_matches(name, list(index), n=3, cutoff=0.5)
    hint = f' Did you mean {", ".join(map(repr, close))}?' if close else ''
    raise ZooIndexError(f'No model named {name!r} in the model zoo ({len(index)} models in '
                        f'{", ".join(str(p) for p in default_index_paths()) or "no metafile"}).'
                        f'{hint} List them with `python tools/download_checkpoint.py --list`.')
