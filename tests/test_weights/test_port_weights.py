"""Weights under the names and in the layouts of D-FINE, RT-DETR, timm and Hugging Face transformers:
resolved to their hosts' URLs, downloaded (from a local server standing in for the hosts, through
the mirror variables), converted, and equal to a direct load of the same weights."""
import io

import pytest
import torch

from hgnet_backbones import HGNetV2
from hgnet_backbones.weights import CheckpointError, convert_state_dict, detect_format
from hgnet_backbones.weights.zoo import (DFINE_WEIGHTS_URL, HF_URL, PADDLECLAS_WEIGHTS_URL,
                                         RTDETR_WEIGHTS_URL, WEIGHT_HOSTS, port_weights)

HOST_FOLDERS = {PADDLECLAS_WEIGHTS_URL: 'paddleclas', DFINE_WEIGHTS_URL: 'dfine',
                RTDETR_WEIGHTS_URL: 'rtdetr', HF_URL: 'huggingface'}


def _random_weights(arch: str) -> HGNetV2:
    """Our backbone with random weights, running statistics and LABs."""
    torch.manual_seed(0)
    model = HGNetV2(arch=arch, init_cfg=None)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                value.copy_(torch.rand_like(value) + 0.5 if name.endswith('running_var') else
                            torch.randn_like(value) * 0.1)
    return model


def _rename(state: dict, renames, prefix: str = '', drop_batch_counter: bool = False) -> dict:
    """``state``'s backbone entries renamed by ``renames`` (applied in order), under ``prefix``."""
    out = {}
    for key, value in state.items():
        if not key.startswith(('stem.', 'stages.')):
            continue
        if drop_batch_counter and key.endswith('num_batches_tracked'):
            continue
        for old, new in renames:
            key = key.replace(old, new)
        out[prefix + key] = value.contiguous()
    return out


# The ports' layouts, from our (Paddle's) names, written from their module names (not from this
# package's tables). D-FINE: timm's names (aggregation.0/.1); its FrozenBatchNorm2d keeps no
# num_batches_tracked.
DFINE = (('.aggregation_squeeze_conv.', '.aggregation.0.'),
         ('.aggregation_excitation_conv.', '.aggregation.1.'))
# Hugging Face HGNetV2Backbone: embedder / encoder.stages, convolution / normalization, aggregation.N
HF = DFINE + (('stem.', 'embedder.'), ('stages.', 'encoder.stages.'), ('.conv.', '.convolution.'),
              ('.bn.', '.normalization.'))
# RT-DETR's PyTorch port: Paddle's names, stem2a/stem2b convs inside nn.Sequential(ZeroPad2d, Conv2d)
RTDETR = (('stem.stem2a.conv.', 'stem.stem2a.conv.1.'), ('stem.stem2b.conv.', 'stem.stem2b.conv.1.'))


@pytest.fixture
def hosts(http_server, torch_home, monkeypatch):
    """The local server standing in for every host: each host's mirror variable points at a folder
    of it; the download cache is empty."""
    for folder, mirror_env in WEIGHT_HOSTS.items():
        monkeypatch.setenv(mirror_env, f'{http_server.base}/{HOST_FOLDERS[folder]}')
    return http_server


def _serve(server, path: str, state: dict) -> None:
    """``state`` at ``path`` on ``server``, as a .safetensors or torch file (by the path's suffix)."""
    if path.endswith('.safetensors'):
        from safetensors.torch import save
        server.routes[path] = save(state)
    else:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        server.routes[path] = buffer.getvalue()


def _load(**kwargs) -> HGNetV2:
    model = HGNetV2(**kwargs)
    model.init_weights()
    return model


def _assert_same_weights(model, direct):
    a, b = model.state_dict(), direct.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope='module')
def b0():
    return _random_weights('B0')


def _pretrained(checkpoint):
    return dict(init_cfg=dict(type='Pretrained', checkpoint=checkpoint))


def test_dfine_release_names_and_pretrained_true_load_dfine_layout(hosts, b0):
    dfine = _rename(b0.state_dict(), DFINE, drop_batch_counter=True)
    assert 'stages.1.blocks.0.aggregation.1.lab.scale' in dfine
    assert not any(k.endswith('num_batches_tracked') for k in dfine)
    _serve(hosts, '/dfine/PPHGNetV2_B0_stage1.pth', dfine)
    # the mirror variable redirects the release's public URL as it does its names
    for model in (_load(arch='B0', **_pretrained('PPHGNetV2_B0_stage1')),
                  _load(arch='B0', **_pretrained('PPHGNetV2_B0_stage1.pth')),
                  _load(arch='B0', **_pretrained(DFINE_WEIGHTS_URL + 'PPHGNetV2_B0_stage1.pth')),
                  _load(name='B0', use_lab=True, pretrained=True)):
        _assert_same_weights(model, b0)
    assert hosts.requests == ['/dfine/PPHGNetV2_B0_stage1.pth']  # then from the cache


def test_timm_tags_and_hub_ids_load_timm_files(hosts, tmp_path):
    """A file timm's hgnetv2_b0 writes (backbone and head), against loading it from a local path."""
    timm = pytest.importorskip('timm')
    from safetensors.torch import save_file
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in timm.create_model('hgnetv2_b0').state_dict().items()}
    save_file(state, str(tmp_path / 'timm_b0.safetensors'))
    direct = _load(arch='B0', **_pretrained(str(tmp_path / 'timm_b0.safetensors')))
    for tag in ('ssld_stage1_in22k_in1k', 'ssld_stage2_ft_in1k'):
        _serve(hosts, f'/huggingface/timm/hgnetv2_b0.{tag}/resolve/main/model.safetensors', state)
    for name in ('hgnetv2_b0.ssld_stage1_in22k_in1k', 'timm/hgnetv2_b0.ssld_stage1_in22k_in1k',
                 'hf-hub:timm/hgnetv2_b0.ssld_stage1_in22k_in1k', 'hgnetv2_b0.ssld_stage2_ft_in1k',
                 'hgnetv2_b0'):
        _assert_same_weights(_load(arch='B0', **_pretrained(name)), direct)
    assert sorted(set(hosts.requests)) == [  # a bare model name is timm's default tag
        '/huggingface/timm/hgnetv2_b0.ssld_stage1_in22k_in1k/resolve/main/model.safetensors',
        '/huggingface/timm/hgnetv2_b0.ssld_stage2_ft_in1k/resolve/main/model.safetensors']


def test_hugging_face_backbone_and_dfine_detector_load_hf_layout(hosts, b0):
    backbone = _rename(b0.state_dict(), HF)
    assert 'embedder.stem1.convolution.weight' in backbone
    assert 'encoder.stages.2.blocks.1.layers.0.conv2.normalization.running_var' in backbone
    assert 'encoder.stages.1.blocks.0.aggregation.1.lab.scale' in backbone
    # transformers' DFineForObjectDetection: the backbone under model.backbone.model., frozen norms,
    # beside the detector's own encoder (whose keys also read 'encoder.')
    detector = _rename(b0.state_dict(), HF, prefix='model.backbone.model.', drop_batch_counter=True)
    detector.update({'model.encoder.encoder.0.layers.0.fc1.weight': torch.zeros(4, 4),
                     'model.decoder.layers.0.fc1.weight': torch.zeros(4, 4)})
    _serve(hosts, '/huggingface/someone/hgnetv2-b0/resolve/main/model.safetensors', backbone)
    _serve(hosts, '/huggingface/ustc-community/dfine-nano-coco/resolve/main/model.safetensors',
           detector)
    for name in ('hf-hub:someone/hgnetv2-b0', 'ustc-community/dfine-nano-coco'):
        _assert_same_weights(_load(arch='B0', **_pretrained(name)), b0)
    converted = convert_state_dict(detector)
    assert converted['model.encoder.encoder.0.layers.0.fc1.weight'].shape == (4, 4)  # not ours


def test_rtdetr_release_name_and_pretrained_true_load_rtdetr_layout(hosts):
    b4 = _random_weights('B4')  # RT-DETR's L
    rtdetr = _rename(b4.state_dict(), RTDETR)
    assert 'stem.stem2a.conv.1.weight' in rtdetr and 'stem.stem2b.conv.1.weight' in rtdetr
    _serve(hosts, '/rtdetr/PPHGNetV2_L_ssld_pretrained_from_paddle.pth', rtdetr)
    for model in (_load(arch='B4', **_pretrained('PPHGNetV2_L_ssld_pretrained_from_paddle')),
                  _load(name='L', pretrained=True)):
        _assert_same_weights(model, b4)
    assert hosts.requests == ['/rtdetr/PPHGNetV2_L_ssld_pretrained_from_paddle.pth']


@pytest.mark.parametrize('renames,expected', [(DFINE, 'timm'), (HF, 'huggingface'),
                                               (RTDETR, 'rtdetr')], ids=['dfine', 'hf', 'rtdetr'])
def test_layouts_are_detected(renames, expected, b0):
    assert detect_format(_rename(b0.state_dict(), renames)) == expected


def test_names_resolve_to_the_hosts_public_urls(monkeypatch):
    for mirror_env in WEIGHT_HOSTS.values():
        monkeypatch.delenv(mirror_env, raising=False)
    assert port_weights('PPHGNetV2_B4_stage1') == (
        'https://github.com/Peterande/storage/releases/download/dfinev1.0/PPHGNetV2_B4_stage1.pth', 'B4')
    assert port_weights('PPHGNetV2_H_ssld_pretrained_from_paddle') == (
        'https://github.com/lyuwenyu/storage/releases/download/v0.1/'
        'PPHGNetV2_H_ssld_pretrained_from_paddle.pth', 'B6')
    assert port_weights('hgnetv2_b5.ssld_stage1_in22k_in1k') == (
        'https://huggingface.co/timm/hgnetv2_b5.ssld_stage1_in22k_in1k/resolve/main/model.safetensors',
        'B5')
    assert port_weights('ustc-community/dfine-medium-obj365') == (
        'https://huggingface.co/ustc-community/dfine-medium-obj365/resolve/main/model.safetensors', 'B2')
    assert port_weights('hf-hub:me/my-hgnet') == (
        'https://huggingface.co/me/my-hgnet/resolve/main/model.safetensors', None)
    assert port_weights('hgnetv2_b4.pth') is None and port_weights('dfine-large-coco') is None


def test_weights_of_another_arch_are_refused_before_downloading(hosts):
    model = HGNetV2(arch='B0', init_cfg=dict(type='Pretrained',
                                              checkpoint='ustc-community/dfine-large-coco'))
    with pytest.raises(CheckpointError, match="holds HGNetV2-B4 weights; the backbone is HGNetV2-B0"):
        model.init_weights()
    assert hosts.requests == []


def test_unknown_name_lists_the_known_ones_and_the_closest():
    model = HGNetV2(arch='B0', init_cfg=dict(type='Pretrained',
                                              checkpoint='hgnetv2_b0.ssld_stage1_in22k'))
    with pytest.raises(CheckpointError) as info:
        model.init_weights()
    message = str(info.value)
    assert "'hgnetv2_b0.ssld_stage1_in22k' is neither a file nor a known weights name" in message
    assert message.endswith("Did you mean ['hgnetv2_b0.ssld_stage1_in22k_in1k', "
                            "'hgnetv2_b6.ssld_stage1_in22k_in1k', 'hgnetv2_b5.ssld_stage1_in22k_in1k']?")
    for family in ('known names: ssld_stage1', "D-FINE's PPHGNetV2_B0_stage1", 'RT-DETR', "timm's",
                   'ustc-community/', 'hf-hub:'):
        assert family in message


def test_hugging_face_checkpoint_with_two_backbones_is_refused():
    state = {f'{p}embedder.stem1.convolution.weight': torch.zeros(1) for p in ('a.', 'b.')}
    with pytest.raises(CheckpointError, match=r"2 HGNetV2 backbones, under \['a.', 'b.'\]"):
        convert_state_dict(state)
