import os
from pathlib import Path

import pytest

from parity import FIXTURES_ENV, find_paddle_fixtures

REPO_ROOT = Path(__file__).resolve().parents[1]
# .ci/run sets this: there the oracle must be present, and a missing one fails instead of skipping.
REQUIRE_FIXTURES_ENV = 'HGNET_REQUIRE_FIXTURES'


@pytest.fixture(scope='session')
def paddle_fixtures() -> Path:
    """The Paddle parity oracle folder (see parity.find_paddle_fixtures)."""
    path = find_paddle_fixtures()
    if path is None or not (path / 'PPHGNetV2_B0_io.npz').is_file():
        message = (f'Paddle parity oracle not found: set {FIXTURES_ENV} or place it at '
                   f'{REPO_ROOT.parent / "shared/fixtures/paddle"}')
        if os.environ.get(REQUIRE_FIXTURES_ENV):
            pytest.fail(message)
        pytest.skip(message)
    return path


class LocalServer:
    """An HTTP server on 127.0.0.1 that answers each path as ``routes`` says and records the paths
    asked for. A route is ``bytes`` (sent whole, with its Content-Length), or a tuple:
    ``('short', body, length)`` (announces ``length`` bytes, sends ``body``, closes), ``('html', body)``
    (an HTML page with status 200), ``('status', code)``, ``('hang', )`` (accepts and never answers,
    until the server stops; bounded at 60 s)."""

    def __init__(self):
        import http.server
        import threading
        self.routes, self.requests = {}, []
        self.stopping = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                route = server.routes.get(self.path, ('status', 404))
                if isinstance(route, bytes):
                    route = ('short', route, len(route))
                kind = route[0]
                if kind == 'hang':
                    server.stopping.wait(60)
                    return
                if kind == 'status':
                    self.send_error(route[1])
                    return
                body = route[1]
                self.send_response(200)
                self.send_header('Content-Type', 'text/html' if kind == 'html' else
                                 'application/octet-stream')
                self.send_header('Content-Length', str(route[2] if kind == 'short' else len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f'http://127.0.0.1:{self.httpd.server_address[1]}'

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    """A :class:`LocalServer` for the test; stopped afterwards."""
    server = LocalServer()
    yield server
    server.stop()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch hub folder (the download cache lives under it) for the test."""
    home = tmp_path / 'torch_home'
    monkeypatch.setenv('TORCH_HOME', str(home))
    return home
