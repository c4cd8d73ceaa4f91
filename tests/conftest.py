import os
from pathlib import Path

import pytest

from parity import FIXTURES_ENV, find_paddle_fixtures

REPO_ROOT = Path(__file__).resolve().parents[1]
# .ci/run sets this: there the oracle must be present, and a missing one fails instead of skipping.
REQUIRE_FIXTURES_ENV = 'HGNET_REQUIRE_FIXTURES'


@pytest.fixture(autouse=True)
def mmengine_state_as_imported():
    """Each test leaves mmengine's process-wide state as it found it, so that no test depends on the
    ones before it. Still needed (row ``test-process-state`` of hgnet_backbones.compat.ADAPTATIONS),
    because mmengine 0.10.7 has no public way to undo either change:

    - the checkpoint loaders (``CheckpointLoader._schemes``): a tool run in-process (``tool.main``:
      test_quantize, test_benchmark, the tools' config tests of test_apis/test_config) calls
      ``use_safe_checkpoint_loading()``, which replaces mmengine's local and http(s) loaders for the
      process; restored to those the test found;
    - the default scope (``DefaultScope._instance_dict``): every Runner and ``init_default_scope``
      creates an instance that decides the registry of what later tests build (a session fixture's
      runner may set one before this fixture runs); emptied, as at import, as mmengine's own
      ``overwrite_default_scope`` restores it."""
    from collections import OrderedDict

    import hgnet_backbones  # noqa: F401  (registers its schemes first)
    from mmengine.registry import DefaultScope
    from mmengine.runner.checkpoint import CheckpointLoader
    schemes = OrderedDict(CheckpointLoader._schemes)  # a copy: register_scheme updates it in place
    yield
    CheckpointLoader._schemes = schemes
    DefaultScope._instance_dict = OrderedDict()


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


# Made once per session and shared by the tests of the tools, inference and deployment.
TINY_CLS_CONFIG = REPO_ROOT / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py'
TINY_DET_CONFIG = REPO_ROOT / 'configs/retinanet/retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py'
TINY_SEG_CONFIG = REPO_ROOT / 'configs/upernet/upernet_hgnetv2-b0_1xb4-300iter_tiny-ade20k-128x128.py'


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory):
    """The main job's tiny RetinaNet-B0 run for 4 of its 8 epochs (its cosine schedule cut short;
    about a minute on 2 cores; 3 epochs left it at mAP 0.061 on one CPU type and 0.029 on another,
    4 at 0.081 on the latter): tiny_detection_run's result, with ``work_dir`` (data in
    ``work_dir/tiny_coco``)."""
    from hgnet_backbones.apis.demo import tiny_detection_run
    work_dir = tmp_path_factory.mktemp('tiny_detection')
    result = tiny_detection_run(str(TINY_DET_CONFIG), str(work_dir), score_thr=0.2,
                                cfg_options={'train_cfg.max_epochs': 4})
    return dict(result, work_dir=work_dir)


@pytest.fixture(scope='session')
def tiny_seg_run(tmp_path_factory):
    """UPerNet-B0 trained by tools/train.py on the tiny ADE20K-layout set: (data root, work dir, log)."""
    import subprocess
    import sys

    from hgnet_backbones.tiny_data import make_tiny_ade20k
    root = tmp_path_factory.mktemp('tiny_ade20k')
    assert make_tiny_ade20k(root) == {'training': 48, 'validation': 16}
    work_dir = tmp_path_factory.mktemp('seg_work')
    options = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    result = subprocess.run([sys.executable, str(REPO_ROOT / 'tools/train.py'), str(TINY_SEG_CONFIG),
                             '--work-dir', str(work_dir), '--cfg-options', 'randomness.seed=0',
                             *options], capture_output=True, text=True, cwd=REPO_ROOT, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, work_dir, result.stdout + result.stderr


@pytest.fixture(scope='session')
def tiny_imagenet(tmp_path_factory):
    from hgnet_backbones.tiny_data import make_tiny_imagenet
    root = tmp_path_factory.mktemp('tiny_imagenet')
    assert make_tiny_imagenet(root) == {'train': 120, 'val': 40}
    return root


@pytest.fixture(scope='session')
def tiny_classifier(tiny_imagenet, paddle_fixtures, tmp_path_factory):
    """A checkpoint of the tiny ImageNet config's model: the Paddle fixture's B0 backbone, a seeded
    5-class head, and the set's class names in its meta (as the runner saves them)."""
    import torch

    from hgnet_backbones.apis import build_model, load_config
    cfg = load_config(str(TINY_CLS_CONFIG), {'model.backbone.init_cfg': dict(
        type='Pretrained', checkpoint=str(paddle_fixtures / 'PPHGNetV2_B0.pdparams'))})
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    classes = (tiny_imagenet / 'classes.txt').read_text().split()
    path = tmp_path_factory.mktemp('tiny_classifier') / 'classifier.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': classes}}}, path)
    return path


@pytest.fixture
def codebases():
    """Skips the test where mmpretrain, mmdet or mmseg is not installed (the oldest-stack run has none
    of them); on the pinned stack they are all there."""
    for name in ('mmpretrain', 'mmdet', 'mmseg'):
        pytest.importorskip(name, reason=f'{name} is not installed (the oldest-stack run has none)')


@pytest.fixture
def one_thread():
    """One intra-op thread meanwhile, for the tiny training tests: on cores busy with other work, two
    wait on each other (RT-DETR's took 940 s with two threads beside the rest of the suite, 100 s
    with one)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
