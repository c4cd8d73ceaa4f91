"""Key conversion (PaddleClas, timm, mmengine -> ours) and the checks that a state dict fits."""
import pickle

import numpy as np
import pytest
import torch

from hgnet_backbones import HGNetV2, convert_state_dict
from hgnet_backbones.weights import CheckpointError, detect_format, guess_arch, read_checkpoint, read_pdparams
from hgnet_backbones.weights.convert import to_timm_state_dict


def _pdparams(fixtures, arch):
    return str(fixtures / f'PPHGNetV2_{arch}.pdparams')


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


@pytest.mark.parametrize('value', [np.nan, np.inf])
def test_non_finite_weights_are_refused_naming_the_tensors(paddle_fixtures, tmp_path, value):
    state = dict(read_pdparams(_pdparams(paddle_fixtures, 'B0')))
    state['stages.2.blocks.1.layers.0.conv1.conv.weight'] = \
        state['stages.2.blocks.1.layers.0.conv1.conv.weight'].copy()
    state['stages.2.blocks.1.layers.0.conv1.conv.weight'][0, 0, 0, 0] = value
    path = tmp_path / 'nan.pdparams'
    path.write_bytes(pickle.dumps(state))
    model = HGNetV2(arch='B0', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    before = model.stages[2].blocks[1].layers[0].conv1.conv.weight.clone()
    with pytest.raises(CheckpointError, match=r'NaN or infinite values in 1 tensors: '
                                              r'stages\.2\.blocks\.1\.layers\.0\.conv1\.conv\.weight'):
        model.init_weights()
    assert torch.equal(model.stages[2].blocks[1].layers[0].conv1.conv.weight, before)  # nothing loaded


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
    assert detect_format(read_checkpoint(str(path))) == 'timm'


def test_to_timm_state_dict_loads_into_timm_with_only_the_head_missing():
    timm = pytest.importorskip('timm')
    ours = HGNetV2(arch='B0').state_dict()
    missing, unexpected = timm.create_model('hgnetv2_b0').load_state_dict(
        to_timm_state_dict(ours), strict=False)
    assert unexpected == [] and missing and all(k.startswith('head.') for k in missing)
