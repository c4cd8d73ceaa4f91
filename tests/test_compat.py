import pickle

import numpy as np
import pytest
import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import HistoryBuffer, MessageHub

import hgnet_backbones  # noqa: F401  (applies hgnet_backbones.compat)


def test_message_hub_state_loads_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('compat-test')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('iter', 7)
    path = tmp_path / 'ckpt.pth'
    torch.save({'message_hub': hub.state_dict(), 'meta': {'seed': np.int64(3)}}, path)
    loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(0.375) and buffer.statistics('max') == 0.5


def test_history_buffer_no_longer_pickles_getattr():
    buffer = HistoryBuffer()
    buffer.update(1.0)
    buffer.update(2.0)
    raw = pickle.dumps(buffer, protocol=2)
    assert b'getattr' not in raw
    assert pickle.loads(raw).statistics('min') == 1.0


def test_local_put_never_leaves_a_partial_file(tmp_path):
    target = tmp_path / 'epoch_1.pth'
    with pytest.raises(TypeError):
        LocalBackend().put(object(), target)  # fails inside write, as an interrupted save would
    assert list(tmp_path.iterdir()) == []
    LocalBackend().put(b'complete', target)
    assert target.read_bytes() == b'complete' and len(list(tmp_path.iterdir())) == 1
