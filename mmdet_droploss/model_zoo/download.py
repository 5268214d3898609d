"""Checksummed, resumable downloads into the checkpoint cache.

Guarantees:

* a file is only ever under its final name in the cache after its SHA-256 matched;
  the transfer goes to ``<name>.part`` and is renamed atomically once verified;
* an interrupted transfer leaves ``<name>.part``; the next call resumes it with an HTTP ``Range``
  request (or starts over when the server ignores ranges);
* a hash mismatch removes the downloaded bytes and raises :class:`ChecksumMismatchError`;
* a cached file is verified again before every use; a corrupt one is removed and fetched again;
* with a verified file in the cache no network is touched; with ``MMDET_DROPLOSS_OFFLINE=1``
  the network is never touched, and a missing file is a clear :class:`DownloadError`.

Environment: ``MMDET_DROPLOSS_CHECKPOINTS`` (cache directory, default
``$XDG_CACHE_HOME/mmdet_droploss/checkpoints`` i.e. ``~/.cache/mmdet_droploss/checkpoints``),
``MMDET_DROPLOSS_OFFLINE``.
"""
import contextlib
import hashlib
import http.client
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Optional, Union

__all__ = ['CACHE_ENV', 'OFFLINE_ENV', 'ChecksumMismatchError', 'DownloadError',
           'DownloadInterruptedError', 'cache_dir', 'fetch', 'offline', 'sha256sum']

CACHE_ENV = 'MMDET_DROPLOSS_CHECKPOINTS'
OFFLINE_ENV = 'MMDET_DROPLOSS_OFFLINE'
_CHUNK = 1 << 20
_TRUE = ('1', 'true', 'yes', 'y', 'on')


class DownloadError(RuntimeError):
    """The checkpoint could not be obtained (no network, HTTP error, offline and not cached)."""


class DownloadInterruptedError(DownloadError):
    """The transfer stopped early; the partial file is kept so the next call resumes it."""


class ChecksumMismatchError(DownloadError):
    """The downloaded or cached bytes do not have the expected SHA-256; they were removed."""


def cache_dir(override: Optional[Union[str, Path]] = None) -> Path:
    """The checkpoint cache: ``override``, else ``$MMDET_DROPLOSS_CHECKPOINTS``, else the default."""
    if override is not None:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join('~', '.cache')
    return Path(base).expanduser() / 'mmdet_droploss' / 'checkpoints'


def offline(override: Optional[bool] = None) -> bool:
    """Whether the network is off limits (``override``, else ``$MMDET_DROPLOSS_OFFLINE``)."""
    if override is not None:
        return bool(override)
    return os.environ.get(OFFLINE_ENV, '').strip().lower() in _TRUE


def sha256sum(path: Union[str, Path]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(_CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: Path, expected: str) -> bool:
    return sha256sum(path).startswith(expected.lower())


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock so concurrent processes (e.g. distributed ranks) do not share a .part."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'a+b') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _progress_bar(total: Optional[int], initial: int, desc: str, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit='B', unit_scale=True,
                unit_divisor=1024, disable=not enabled, file=sys.stderr, leave=True)


def _open(url: str, start: int, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={'User-Agent': 'mmdet-droploss'})
    if start:
        request.add_header('Range', f'bytes={start}-')
    return urllib.request.urlopen(request, timeout=timeout)


def _transfer(url: str, part: Path, desc: str, progress: bool, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (resuming when the server honours ``Range``)."""
    start = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, start, timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # the partial file is not a prefix we can extend
            part.unlink()
            return _transfer(url, part, desc, progress, timeout)
        raise DownloadError(f'Downloading {url} failed: HTTP {err.code} {err.reason}.') from err
    except (urllib.error.URLError, socket.timeout, ConnectionError) as err:
        reason = getattr(err, 'reason', err)
        raise DownloadError(
            f'Could not reach {url} ({reason}). Check the network connection or proxy; to work '
            f'offline, put the verified file in the cache directory ({part.parent}) or set '
            f'{CACHE_ENV} to a directory that has it.') from err
    with response:
        if start and response.status != 206:  # no range support: the whole file follows
            start = 0
        elif start and not re.match(rf'bytes {start}-\d+/(\d+|\*)$',
                                    response.headers.get('Content-Range', '')):
            response.close()  # a range we did not ask for: drop the partial file, start over
            part.unlink()
            return _transfer(url, part, desc, progress, timeout)
        length = response.headers.get('Content-Length')
        total = start + int(length) if length is not None else None
        received = start
        with open(part, 'ab' if start else 'wb') as out, \
                _progress_bar(total, start, desc, progress) as bar:
            try:
                for block in iter(lambda: response.read(_CHUNK), b''):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
            except (http.client.HTTPException, OSError) as err:
                raise DownloadInterruptedError(
                    f'Download of {url} was interrupted after {received} bytes ({err!r}). The '
                    f'partial file {part} is kept: run the same command again to resume.') from err
    if total is not None and received != total:
        raise DownloadInterruptedError(
            f'Download of {url} stopped at {received} of {total} bytes. The partial file {part} '
            'is kept: run the same command again to resume.')


def fetch(url: str, sha256: str, *, file_name: Optional[str] = None,
          directory: Optional[Union[str, Path]] = None, progress: Optional[bool] = None,
          offline_only: Optional[bool] = None, timeout: float = 60.0) -> Path:
    """Return a cached, verified copy of ``url``, downloading it if needed.

    Args:
        url: http(s) URL of the file.
        sha256: expected SHA-256, the full hex digest or a prefix (at least 8 hex digits).
        file_name: name in the cache (default: the URL's last path component).
        directory: cache directory (default :func:`cache_dir`).
        progress: show a progress bar (default: when stderr is a terminal).
        offline_only: never use the network (default: ``$MMDET_DROPLOSS_OFFLINE``).
        timeout: seconds to wait for the server on connect and on each read.

    Raises:
        ChecksumMismatchError: the bytes do not match ``sha256`` (the file was removed).
        DownloadInterruptedError: the transfer stopped early (``<name>.part`` kept to resume).
        DownloadError: the server cannot be reached or answers with an error, or offline and
            the file is not cached.
    """
    if not re.fullmatch(r'[0-9a-fA-F]{8,64}', sha256 or ''):
        raise ValueError(f'sha256 must be 8 to 64 hex digits, got {sha256!r}.')
    directory = cache_dir(directory)
    file_name = file_name or os.path.basename(url.split('?', 1)[0])
    target = directory / file_name
    part = directory / (file_name + '.part')
    progress = sys.stderr.isatty() if progress is None else progress
    with _file_lock(directory / '.locks' / (file_name + '.lock')):
        corrupt_cache = False
        if target.exists():
            if _matches(target, sha256):
                return target
            target.unlink()  # corrupt or stale: never hand it out
            corrupt_cache = True
        if offline(offline_only):
            what = ('was corrupt (SHA-256 mismatch) and has been removed' if corrupt_cache
                    else 'is not in the cache')
            raise DownloadError(
                f'{file_name} {what}, and downloads are disabled (offline mode: {OFFLINE_ENV} '
                f'or --offline). Copy the file (SHA-256 {sha256}...) from {url} into '
                f'{directory}, or go online.')
        directory.mkdir(parents=True, exist_ok=True)
        _transfer(url, part, file_name, progress, timeout)
        actual = sha256sum(part)
        if not actual.startswith(sha256.lower()):
            part.unlink()
            raise ChecksumMismatchError(
                f'SHA-256 mismatch for {url}: expected {sha256}..., got {actual}. The download '
                'was deleted. The file on the server is not the published one (or was corrupted '
                'in transit); do not use it. Retry later, or report it if it persists.')
        os.replace(part, target)
    return target
