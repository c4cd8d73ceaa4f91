"""Downloading weights: URL -> a verified file in the cache.

- Every connection and every read has a timeout, so a server that accepts and never answers fails
  the load instead of hanging it.
- The cache is keyed by the whole URL (``<torch hub dir>/checkpoints/hgnet_backbones/<hash>/<name>``):
  two URLs with the same file name never share an entry.
- Nothing appears under the final name until the body is complete (its ``Content-Length``), is not
  an HTML page, and reads as a checkpoint; a failed download leaves nothing, and a retry fetches
  again.

torch.hub's ``download_url_to_file`` is not used: it has no read timeout and caches by file name.
"""
import hashlib
import os
import socket
import urllib.error
import urllib.request
from http.client import HTTPException
from typing import Callable, Optional
from urllib.parse import urlparse

from ..fileio import atomic_path
from ..version import __version__
from .read import CheckpointError

TIMEOUT_ENV = 'HGNET_DOWNLOAD_TIMEOUT'
DEFAULT_TIMEOUT = 60.0  # seconds, for the connection and for each read
CHUNK = 1 << 20


class DownloadError(CheckpointError):
    """A download that failed, timed out or did not bring a checkpoint."""


def cache_dir() -> str:
    import torch
    return os.path.join(torch.hub.get_dir(), 'checkpoints', 'hgnet_backbones')


def cached_path(url: str) -> str:
    """Where ``url`` is cached: a folder named by the URL's hash, holding the URL's file name."""
    name = os.path.basename(urlparse(url).path)
    if not name:
        raise ValueError(f'cannot tell a file name from URL {url!r}')
    return os.path.join(cache_dir(), hashlib.sha256(url.encode()).hexdigest()[:16], name)


def _looks_like_html(head: bytes) -> bool:
    return head.lstrip()[:15].lower().startswith((b'<!doctype html', b'<html', b'<?xml', b'<head'))


def _download(url: str, path: str, timeout: float, check: Optional[Callable[[str], object]]) -> None:
    request = urllib.request.Request(url, headers={'User-Agent': f'hgnet_backbones/{__version__}'})
    what = f'downloading {url}'
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, atomic_path(path) as tmp:
            content_type = response.headers.get('Content-Type', '')
            if content_type.startswith('text/html'):
                raise DownloadError(f'{what}: the server sent an HTML page ({content_type}), not a '
                                    'checkpoint; check the URL')
            expected = response.headers.get('Content-Length')
            received = 0
            with open(tmp, 'wb') as f:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    if received == 0 and _looks_like_html(chunk[:64]):
                        raise DownloadError(f'{what}: the server sent an HTML page, not a checkpoint; '
                                            'check the URL')
                    f.write(chunk)
                    received += len(chunk)
            if expected is not None and received != int(expected):
                raise DownloadError(f'{what}: the body ended after {received} of {expected} bytes; '
                                    'try again')
            if check is not None:
                try:
                    check(tmp)
                except CheckpointError as e:
                    raise DownloadError(f'{what}: the file is not a readable checkpoint: {e}') from None
    except DownloadError:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadError(f'{what}: HTTP {e.code} {e.reason}') from None
    except (urllib.error.URLError, socket.timeout, TimeoutError) as e:
        reason = getattr(e, 'reason', e)
        raise DownloadError(f'{what}: {reason} (timeout {timeout:g} s, set {TIMEOUT_ENV} to change '
                            'it); check the URL and the network, or download the file and pass its '
                            'path') from None
    except (HTTPException, OSError) as e:
        raise DownloadError(f'{what}: {type(e).__name__}: {e}; try again') from None


def download(url: str, timeout: Optional[float] = None,
             check: Optional[Callable[[str], object]] = None) -> str:
    """The local path of ``url``, downloaded into the cache unless it is there already (rank 0
    first in distributed runs). ``check(path)`` must accept the file before it enters the cache
    (e.g. read it as a checkpoint); it raises :class:`CheckpointError` otherwise."""
    from mmengine.dist import barrier, get_dist_info
    if not url.startswith(('http://', 'https://')):
        raise ValueError(f'{url!r} is not an http(s) URL')
    timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT)) if timeout is None else timeout
    path = cached_path(url)
    rank, world_size = get_dist_info()

    def fetch():
        if not os.path.isfile(path):
            _download(url, path, timeout, check)

    if rank == 0:
        fetch()
    if world_size > 1:
        barrier()
        if rank > 0:
            fetch()
    return path
