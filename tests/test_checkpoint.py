import functools
import http.server
import os
import pickle
import shutil
import threading

import numpy as np
import pytest
import torch

from hgnet_backbones import HGNetV2, convert_state_dict, read_pdparams
from hgnet_backbones.weights import (CheckpointError, UnsafePickleError, detect_format, guess_arch,
                                     read_checkpoint, resolve_checkpoint)
from hgnet_backbones.weights.zoo import PADDLECLAS_WEIGHTS_URL, WEIGHTS_MIRROR_ENV


def _pdparams(fixtures, arch):
    return str(fixtures / f'PPHGNetV2_{arch}.pdparams')


@pytest.mark.parametrize('arch,numpy_module', [('B0', b'numpy._core.multiarray'),
                                               ('B4', b'numpy.core.multiarray')])
def test_read_pdparams_reads_both_numpy_module_names(paddle_fixtures, arch, numpy_module):
    path = _pdparams(paddle_fixtures, arch)
    with open(path, 'rb') as f:
        head = f.read(4096)
    other = {b'numpy._core.multiarray': b'numpy.core.multiarray',
             b'numpy.core.multiarray': b'numpy._core.multiarray'}[numpy_module]
    assert numpy_module in head and other not in head  # the fixture really uses that name
    state = read_pdparams(path)
    assert 'StructuredToParameterName@@' not in state
    assert state['stem.stem1.conv.weight'].dtype == np.float32
    assert state['fc.weight'].shape == (2048, 1000)  # Paddle stores [in, out]
    assert detect_format(state) == 'paddle'


def test_paddle_names_convert_to_classifier_layout(paddle_fixtures):
    raw = read_pdparams(_pdparams(paddle_fixtures, 'B0'))
    state = convert_state_dict(raw)
    assert torch.equal(state['head.fc.weight'], torch.from_numpy(raw['fc.weight']).t())
    assert torch.equal(state['backbone.stem.stem1.bn.running_var'],
                       torch.from_numpy(raw['stem.stem1.bn._variance']))
    assert torch.equal(state['head.lab.scale'], torch.from_numpy(raw['lab.scale']))
    assert 'head.last_conv.weight' in state
    assert not [k for k in state if not k.startswith(('backbone.', 'head.'))]
    assert guess_arch({k[9:]: v for k, v in state.items() if k.startswith('backbone.')}) == ('B0', True)


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (shutil.copyfile, (__file__, self.path))


def test_malicious_pdparams_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / 'pwned.txt'
    evil = tmp_path / 'evil.pdparams'
    evil.write_bytes(pickle.dumps({'stem.stem1.conv.weight': _Payload(str(target))}))
    with pytest.raises(UnsafePickleError, match='refused to load shutil.copyfile'):
        read_pdparams(str(evil))
    with pytest.raises(UnsafePickleError):
        HGNetV2(arch='B0', init_cfg=dict(type='Pretrained', checkpoint=str(evil))).init_weights()
    assert not target.exists()


def test_truncated_pdparams_gives_clear_error(paddle_fixtures, tmp_path):
    raw = open(_pdparams(paddle_fixtures, 'B0'), 'rb').read()
    cut = tmp_path / 'cut.pdparams'
    cut.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(CheckpointError, match='is truncated or not a .pdparams file'):
        read_pdparams(str(cut))


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pdparams'):
        read_checkpoint(str(tmp_path / 'nope.pdparams'))


def test_checkpoint_of_other_variant_names_the_variant_and_keys(paddle_fixtures):
    model = HGNetV2(arch='B0', init_cfg=dict(type='Pretrained',
                                              checkpoint=_pdparams(paddle_fixtures, 'B4')))
    with pytest.raises(CheckpointError) as info:
        model.init_weights()
    message = str(info.value)
    assert 'does not fit HGNetV2-B0' in message
    assert 'looks like HGNetV2-B4' in message
    assert 'shape mismatches (checkpoint vs model)' in message
    assert 'stem.stem1.conv.weight (32, 3, 3, 3) vs (16, 3, 3, 3)' in message
    assert 'unexpected keys' in message  # B4 has six layers per block, B0 three


def test_missing_and_misshaped_keys_are_named(paddle_fixtures, tmp_path):
    state = dict(read_pdparams(_pdparams(paddle_fixtures, 'B0')))
    del state['stages.1.blocks.0.aggregation_squeeze_conv.conv.weight']
    state['stem.stem4.bn.weight'] = np.zeros(3, np.float32)
    path = tmp_path / 'bad.pdparams'
    path.write_bytes(pickle.dumps(state))
    model = HGNetV2(arch='B0', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError) as info:
        model.init_weights()
    message = str(info.value)
    assert 'missing keys (1): stages.1.blocks.0.aggregation_squeeze_conv.conv.weight' in message
    assert 'stem.stem4.bn.weight (3,) vs (16,)' in message
    assert '(closest) HGNetV2-B0' in message


def test_backbone_only_pdparams_loads(paddle_fixtures, tmp_path):
    full = read_pdparams(_pdparams(paddle_fixtures, 'B0'))
    backbone_only = {k: v for k, v in full.items() if k.startswith(('stem.', 'stages.'))}
    path = tmp_path / 'backbone.pdparams'
    path.write_bytes(pickle.dumps(backbone_only, protocol=4))
    model = HGNetV2(arch='B0', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert torch.equal(model.stem.stem1.conv.weight, torch.from_numpy(full['stem.stem1.conv.weight']))
    assert torch.equal(model.stages[3].blocks[0].layers[2].conv2.bn.running_mean,
                       torch.from_numpy(full['stages.3.blocks.0.layers.2.conv2.bn._mean']))


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_timm_checkpoint_loads_and_b4_features_equal_timm(suffix, tmp_path):
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    ref = timm.create_model('hgnetv2_b4', pretrained=False, features_only=False).eval()
    for m in ref.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / f'hgnetv2_b4{suffix}'
    if suffix == '.pth':
        torch.save(ref.state_dict(), path)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    model = HGNetV2(arch='B4', out_indices=(0, 1, 2, 3),
                    init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    model.eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        ours = model(x)
        theirs = ref.forward_intermediates(x, intermediates_only=True)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert detect_format(torch.load(path) if suffix == '.pth' else read_checkpoint(str(path))) == 'timm'


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        _QuietHandler.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def weights_server(paddle_fixtures):
    handler = functools.partial(_QuietHandler, directory=str(paddle_fixtures))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _QuietHandler.requests.clear()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def test_url_is_downloaded_to_torch_hub_cache_then_converted(weights_server, paddle_fixtures,
                                                             tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    url = f'{weights_server}/PPHGNetV2_B0.pdparams'
    local = HGNetV2(arch='B0', init_cfg=dict(type='Pretrained',
                                              checkpoint=_pdparams(paddle_fixtures, 'B0')))
    local.init_weights()
    for _ in range(2):
        remote = HGNetV2(arch='B0', init_cfg=dict(type='Pretrained', checkpoint=url))
        remote.init_weights()
        for (name, a), b in zip(local.state_dict().items(), remote.state_dict().values()):
            assert torch.equal(a, b), name
    cached = tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'PPHGNetV2_B0.pdparams'
    assert cached.read_bytes() == open(_pdparams(paddle_fixtures, 'B0'), 'rb').read()
    assert _QuietHandler.requests == ['/PPHGNetV2_B0.pdparams']  # the second load used the cache


def test_short_names_resolve_to_paddleclas_urls(weights_server, tmp_path, monkeypatch):
    monkeypatch.delenv(WEIGHTS_MIRROR_ENV, raising=False)
    from hgnet_backbones.weights.zoo import official_weights_url
    assert official_weights_url('B4', 'ssld_stage1') == \
        PADDLECLAS_WEIGHTS_URL + 'PPHGNetV2_B4_ssld_stage1_pretrained.pdparams'
    assert official_weights_url('b2', 'ssld_stage2') == \
        PADDLECLAS_WEIGHTS_URL + 'PPHGNetV2_B2_ssld_pretrained.pdparams'
    with pytest.raises(ValueError, match="Unknown weights name 'stage3'"):
        official_weights_url('B4', 'stage3')
    # through a mirror (here the local server) the short name is really downloaded
    monkeypatch.setenv(WEIGHTS_MIRROR_ENV, weights_server)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    served = tmp_path / 'served'
    served.mkdir()
    with pytest.raises(Exception):  # the server has no stage-1 file of that name
        resolve_checkpoint('ssld_stage1', arch='B0')
    assert _QuietHandler.requests == ['/PPHGNetV2_B0_ssld_stage1_pretrained.pdparams']
    assert not os.listdir(tmp_path / 'hub' / 'checkpoints')  # nothing half-written


def test_mmengine_load_checkpoint_takes_pdparams(paddle_fixtures):
    from mmengine.runner.checkpoint import _load_checkpoint
    ckpt = _load_checkpoint(_pdparams(paddle_fixtures, 'B4'), map_location='cpu')
    assert ckpt['meta']['arch'] == 'B4'
    assert ckpt['state_dict']['head.fc.weight'].shape == (1000, 2048)
    assert 'backbone.stages.3.blocks.0.aggregation_excitation_conv.bn.running_var' in ckpt['state_dict']
