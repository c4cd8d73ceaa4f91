"""The tools load checkpoints through the safe readers (they call use_safe_checkpoint_loading): a
pickle that would run code is refused, by URL or by path, and nothing in it runs."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from payload import Payload

REPO = Path(__file__).resolve().parents[2]
CLASSIFIER = str(REPO / 'configs/hgnetv2/hgnetv2-b0_8xb128_in1k.py')
TINY = str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py')


@pytest.fixture
def evil(tmp_path, http_server):
    target = tmp_path / 'pwned.txt'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': Payload(str(target))}, path)
    http_server.routes['/evil.pth'] = path.read_bytes()
    return dict(target=target, path=str(path), url=http_server.url('/evil.pth'))


@pytest.mark.parametrize('source', ['url', 'path'])
def test_infer_refuses_a_pickle_checkpoint_and_runs_nothing(evil, tmp_path, torch_home, source):
    image = REPO / 'configs'  # never read: the checkpoint is refused first
    result = subprocess.run([sys.executable, str(REPO / 'tools/infer.py'), str(image), CLASSIFIER,
                             evil[source]], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode != 0
    assert 'weights_only=True' in result.stderr and 'evil.pth' in result.stderr  # names the file
    assert not evil['target'].exists()


def test_test_tool_refuses_a_pickle_url_and_runs_nothing(evil, tmp_path, torch_home):
    from hgnet_backbones.tiny_data import make_tiny_imagenet
    data = tmp_path / 'tiny'
    make_tiny_imagenet(data)
    result = subprocess.run([sys.executable, str(REPO / 'tools/test.py'), TINY, evil['url'],
                             '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                             f'test_dataloader.dataset.data_root={data}',
                             f'test_dataloader.dataset.classes={data}/classes.txt'],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode != 0
    assert 'weights_only=True' in result.stderr
    assert not evil['target'].exists()
