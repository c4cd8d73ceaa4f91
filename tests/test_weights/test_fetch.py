"""Downloads: bounded in time, cached by URL, and nothing cached that is not a whole checkpoint.
Every server here is a local one on 127.0.0.1 (tests/conftest.py)."""
import os
import time

import pytest

from hgnet_backbones.weights.fetch import DownloadError, cached_path, download
from hgnet_backbones.weights.read import read_checkpoint


def _fixture_bytes(paddle_fixtures, arch='B0'):
    return (paddle_fixtures / f'PPHGNetV2_{arch}.pdparams').read_bytes()


def _cache_files(torch_home):
    return sorted(str(p.relative_to(torch_home)) for p in torch_home.rglob('*') if p.is_file())


def test_download_is_cached_by_url_and_not_fetched_again(http_server, paddle_fixtures, torch_home):
    http_server.routes['/w/PPHGNetV2_B0.pdparams'] = _fixture_bytes(paddle_fixtures)
    url = http_server.url('/w/PPHGNetV2_B0.pdparams')
    first = download(url, check=read_checkpoint)
    second = download(url, check=read_checkpoint)
    assert first == second == cached_path(url) and first.startswith(str(torch_home))
    assert open(first, 'rb').read() == _fixture_bytes(paddle_fixtures)
    assert http_server.requests == ['/w/PPHGNetV2_B0.pdparams']  # the second call used the cache


def test_urls_with_the_same_file_name_never_share_a_cache_entry(http_server, paddle_fixtures,
                                                                 torch_home):
    http_server.routes['/a/weights.pdparams'] = _fixture_bytes(paddle_fixtures, 'B0')
    http_server.routes['/b/weights.pdparams'] = _fixture_bytes(paddle_fixtures, 'B4')
    a = download(http_server.url('/a/weights.pdparams'))
    b = download(http_server.url('/b/weights.pdparams'))
    assert a != b and os.path.basename(a) == os.path.basename(b) == 'weights.pdparams'
    assert open(a, 'rb').read() == _fixture_bytes(paddle_fixtures, 'B0')
    assert open(b, 'rb').read() == _fixture_bytes(paddle_fixtures, 'B4')


def test_server_that_never_answers_fails_within_the_timeout(http_server, torch_home):
    http_server.routes['/slow.pdparams'] = ('hang', )
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r'timed out \(timeout 1 s'):
        download(http_server.url('/slow.pdparams'), timeout=1)
    assert time.monotonic() - start < 10
    assert _cache_files(torch_home) == []


def test_short_body_is_not_cached_and_a_retry_downloads_again(http_server, paddle_fixtures,
                                                               torch_home):
    whole = _fixture_bytes(paddle_fixtures)
    http_server.routes['/w.pdparams'] = ('short', whole[:1000], len(whole))
    url = http_server.url('/w.pdparams')
    with pytest.raises(DownloadError, match=f'ended after 1000 of {len(whole)} bytes'):
        download(url, check=read_checkpoint)
    assert _cache_files(torch_home) == []  # nothing under the final name, no temporary left
    http_server.routes['/w.pdparams'] = whole
    assert open(download(url, check=read_checkpoint), 'rb').read() == whole
    assert http_server.requests == ['/w.pdparams', '/w.pdparams']


def test_truncated_file_with_a_matching_length_fails_the_check_and_is_not_cached(
        http_server, paddle_fixtures, torch_home):
    http_server.routes['/cut.pdparams'] = _fixture_bytes(paddle_fixtures)[:5000]
    with pytest.raises(DownloadError, match='not a readable checkpoint.*truncated'):
        download(http_server.url('/cut.pdparams'), check=read_checkpoint)
    assert _cache_files(torch_home) == []


@pytest.mark.parametrize('content_type_html', [True, False])
def test_html_page_is_refused_and_not_cached(http_server, torch_home, content_type_html):
    page = b'<!DOCTYPE html><html><body>Sign in to download</body></html>'
    http_server.routes['/w.pdparams'] = ('html', page) if content_type_html else page
    with pytest.raises(DownloadError, match='HTML page'):
        download(http_server.url('/w.pdparams'))
    assert _cache_files(torch_home) == []


def test_http_error_names_the_url_and_status(http_server, torch_home):
    url = http_server.url('/missing.pdparams')
    with pytest.raises(DownloadError, match=f'downloading {url}: HTTP 404'):
        download(url)
    assert _cache_files(torch_home) == []


def test_refused_connection_names_the_url(torch_home):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    url = f'http://127.0.0.1:{port}/w.pdparams'
    with pytest.raises(DownloadError, match=f'downloading {url}: .*refused'):
        download(url, timeout=5)
