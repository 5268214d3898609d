"""Columns that travel to a pool's workers as the name of the file they map, not as bytes.

A pool's workers run on this machine, so an array that maps a file (``np.memmap``, as
``column_store.FileColumnStore`` makes them) need not be copied into each task: inside
:func:`pickled_by_file_name` it pickles as (file, dtype, shape, offset) and the receiving
process maps the same pages read-only. Outside it (a rank of a distributed run may be on
another machine, a pickle may outlive the file), every array pickles as its bytes.
"""
from __future__ import annotations

import mmap
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple, Union

import numpy as np

_BY_FILE_NAME = [0]  # how many pickled_by_file_name() contexts are open


@dataclass(frozen=True)
class MappedColumn:
    """The pickled form of an array that maps (part of) a file, read-only."""

    path: str
    dtype: str
    shape: Tuple[int, ...]
    offset: int = 0

    def open(self) -> np.ndarray:
        return mapped(self.path, self.dtype, self.shape, self.offset)


def mapped(path: str, dtype, shape: Tuple[int, ...], offset: int = 0) -> np.ndarray:
    """``path`` mapped read-only as an array (an empty array, which no file can map, is a
    plain one)."""
    if not int(np.prod(shape)):
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype, 'r', offset, shape)


@contextmanager
def pickled_by_file_name() -> Iterator[None]:
    """While open, arrays that map a file pickle as its name (:func:`column_state`)."""
    _BY_FILE_NAME[0] += 1
    try:
        yield
    finally:
        _BY_FILE_NAME[0] -= 1


def travels_mapped(array: Optional[np.ndarray]) -> bool:
    """Whether ``array`` pickles as the name of the file it maps: inside
    :func:`pickled_by_file_name`, an
    ``np.memmap`` itself (not a view or a copy of it, so that its offset and shape describe
    it). ``None``, a missing column, travels as nothing."""
    if array is None:
        return bool(_BY_FILE_NAME[0])
    return bool(_BY_FILE_NAME[0]) and isinstance(array, np.memmap) and \
        isinstance(array.base, mmap.mmap)


def column_state(array: Optional[np.ndarray]) -> Union[None, np.ndarray, MappedColumn]:
    """What a column pickles as: the file it maps (:func:`travels_mapped`) or its bytes, as a
    plain array (a pickled ``np.memmap`` would claim a file it does not have)."""
    if array is None:
        return None
    if travels_mapped(array):
        return MappedColumn(os.path.abspath(array.filename), array.dtype.str, array.shape,
                            array.offset)
    return np.asarray(array)


def restore_column(state) -> Optional[np.ndarray]:
    """The array :func:`column_state` described."""
    return state.open() if isinstance(state, MappedColumn) else state


def exchange_dir(size: int) -> Optional[str]:
    """``/dev/shm`` if it has room for ``size`` bytes twice over (a container's is often
    64 MB), else the system's temporary directory (``None``)."""
    try:
        stat = os.statvfs('/dev/shm')
    except OSError:
        return None
    return '/dev/shm' if stat.f_bavail * stat.f_frsize > 2 * size else None


__all__ = ['MappedColumn', 'column_state', 'exchange_dir', 'mapped', 'pickled_by_file_name',
           'restore_column', 'travels_mapped']
