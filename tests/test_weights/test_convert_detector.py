"""Published HGNetV2 detector checkpoints: each layout recognised from its keys and shapes, converted
without leftovers, and loaded strict into the model of the config it names."""
import importlib.util
import pickle
from pathlib import Path

import pytest
import torch

from detector_releases import (dfine_release_state, rtdetr_paddle_state, rtdetr_pytorch_state,
                               rtdetr_release)
from hgnet_backbones import HGNetV2
from hgnet_backbones.apis.config import build_model, load_config
from hgnet_backbones.weights import CheckpointError
from hgnet_backbones.weights.convert.detector import (DETECTOR_VARIANTS, LAYOUTS, convert_detector,
                                                      convert_detector_file, detect_detector_layout,
                                                      dfine_to_transformers)
from transformers_reference import run_reference

REPO = Path(__file__).resolve().parents[2]
# the configs the converter names are mmdet's: building them needs the det extra (not on the oldest
# stack, where the conversion itself is still tested)
needs_mmdet = pytest.mark.skipif(importlib.util.find_spec('mmdet') is None,
                                 reason='builds an mmdet config: needs mmdet (the det extra)')


@pytest.fixture(scope='module')
def rtdetr_l():
    return rtdetr_pytorch_state('l', 'v2')


@pytest.fixture(scope='module')
def rtdetr_l_model(rtdetr_l):
    """RT-DETR-L built from the config the converter names for it."""
    pytest.importorskip('mmdet', reason='builds an mmdet config: needs mmdet (the det extra)')
    _, info = convert_detector(rtdetr_l)
    return build_model(load_config(str(REPO / info['config'])))


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_lyuwenyu_rtdetr_l_release_is_recognised_and_loads_strict_into_its_config(version,
                                                                                  rtdetr_l_model):
    state = rtdetr_pytorch_state('l', version)
    converted, info = convert_detector(rtdetr_release(state))
    assert (info['layout'], info['variant'], info['num_classes']) == ('rtdetr_pytorch', 'l', 80)
    assert info['config'] == 'configs/rtdetr/rtdetr_hgnetv2-l_release_coco.py'
    assert info['left_out'] == ['decoder.anchors', 'decoder.valid_mask']  # computed by the model
    assert info['tensors'] == len(converted) == len(rtdetr_l_model.state_dict())
    rtdetr_l_model.load_state_dict(converted, strict=True)
    # the encoder's in-projection and the denoising embedding without its padding row
    assert torch.equal(converted['neck.aifi.0.layers.0.self_attn.attn.in_proj_weight'],
                       state['encoder.encoder.0.layers.0.self_attn.in_proj_weight'])
    assert torch.equal(converted['dn_query_generator.label_embedding.weight'],
                       state['decoder.denoising_class_embed.weight'][:80])
    assert torch.equal(converted['backbone.stem.stem2a.conv.weight'],
                       state['backbone.stem.stem2a.conv.1.weight'])


def test_a_release_converts_its_ema_weights_not_the_raw_model(rtdetr_l):
    from_release, _ = convert_detector(rtdetr_release(rtdetr_l))
    from_ema, _ = convert_detector(rtdetr_l)
    from_model, _ = convert_detector(rtdetr_release(rtdetr_l)['model'])
    key = 'bbox_head.cls_branches.0.weight'
    assert torch.equal(from_release[key], from_ema[key])
    assert not torch.equal(from_release[key], from_model[key])


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_paddle_and_pytorch_layouts_of_the_same_weights_convert_to_the_same_state(version):
    state = rtdetr_pytorch_state('l', version)
    paddle = rtdetr_paddle_state(state)
    assert detect_detector_layout(paddle) == 'rtdetr_paddle'
    from_torch, _ = convert_detector(state)
    from_paddle, info = convert_detector(paddle)
    assert (info['layout'], info['variant']) == ('rtdetr_paddle', 'l')
    assert from_paddle.keys() == from_torch.keys()
    differ = [k for k in from_torch if not torch.equal(from_torch[k], from_paddle[k])]
    assert not differ, differ[:5]


def test_paddle_linear_weights_stored_in_out_are_transposed(rtdetr_l):
    paddle = rtdetr_paddle_state(rtdetr_l)
    converted, _ = convert_detector(paddle)
    stored = torch.from_numpy(paddle['transformer.dec_score_head.0.weight'])
    assert tuple(stored.shape) == (256, 80)  # Paddle's [in, out]
    assert torch.equal(converted['bbox_head.cls_branches.0.weight'], stored.t())
    stored = torch.from_numpy(paddle['neck.encoder.0.layers.0.self_attn.in_proj_weight'])
    assert tuple(stored.shape) == (256, 768)
    assert torch.equal(converted['neck.aifi.0.layers.0.self_attn.attn.in_proj_weight'], stored.t())


def test_paddle_pdparams_file_converts_and_loads_through_load_from(tmp_path, rtdetr_l, rtdetr_l_model):
    from mmengine.runner.checkpoint import _load_checkpoint
    path = tmp_path / 'rtdetr_hgnetv2_l_6x_coco.pdparams'
    path.write_bytes(pickle.dumps(rtdetr_paddle_state(rtdetr_l), protocol=4))
    info = convert_detector_file(path, tmp_path / 'rtdetr_l.pth')
    assert (info['layout'], info['variant']) == ('rtdetr_paddle', 'l')
    written = torch.load(tmp_path / 'rtdetr_l.pth', weights_only=True)
    assert written['meta']['config'] == info['config'] and len(written['state_dict']) == info['tensors']
    checkpoint = _load_checkpoint(str(path), map_location='cpu')  # what load_from does
    assert checkpoint['meta']['layout'] == 'rtdetr_paddle'
    rtdetr_l_model.load_state_dict(checkpoint['state_dict'], strict=True)


def test_safe_local_loader_converts_a_release_file_and_keeps_our_checkpoints(tmp_path, rtdetr_l):
    from hgnet_backbones.weights.mmengine import load_from_safe_local
    release = tmp_path / 'rtdetrv2_hgnetv2_l_6x_coco.pth'
    torch.save(rtdetr_release(rtdetr_l), release)
    loaded = load_from_safe_local(str(release))
    assert loaded['meta']['variant'] == 'l'
    assert 'bbox_head.cls_branches.0.weight' in loaded['state_dict']
    ours = tmp_path / 'ours.pth'
    convert_detector_file(release, ours)
    assert load_from_safe_local(str(ours)).keys() == {'state_dict', 'meta'}
    assert load_from_safe_local(str(ours))['meta']['source'] == str(release)


@pytest.mark.parametrize('variant', ['l', 'x', 'h'])
def test_rtdetr_variant_is_read_from_the_backbone_and_encoder_width(variant):
    _, info = convert_detector(rtdetr_pytorch_state(variant))
    assert info['variant'] == variant
    assert info['config'] == DETECTOR_VARIANTS['rtdetr', variant]['config']


@needs_mmdet
@pytest.mark.slow
@pytest.mark.parametrize('variant', ['x', 'h'])
def test_rtdetr_x_and_h_load_strict_into_their_configs(variant):
    converted, info = convert_detector(rtdetr_pytorch_state(variant))
    model = build_model(load_config(str(REPO / info['config'])))
    model.load_state_dict(converted, strict=True)


def test_every_variant_config_exists_or_is_d_fines():
    for (family, _), row in DETECTOR_VARIANTS.items():
        assert (REPO / row['config']).is_file() or family == 'dfine', row['config']


def test_an_unknown_key_is_named_not_dropped(rtdetr_l):
    state = dict(rtdetr_l, **{'decoder.tgt_embed.weight': torch.zeros(300, 256)})
    with pytest.raises(CheckpointError, match='decoder.tgt_embed.weight'):
        convert_detector(state)


def test_a_bare_backbone_is_refused_naming_the_known_layouts():
    state = {'backbone.' + k: v for k, v in HGNetV2(arch='B4', init_cfg=None).state_dict().items()}
    with pytest.raises(CheckpointError) as error:
        detect_detector_layout(state)
    message = str(error.value)
    assert 'bare HGNetV2 backbone' in message
    assert all(name in message for name in LAYOUTS)


def test_a_resnet_rtdetr_is_refused_as_such(rtdetr_l):
    state = {k: v for k, v in rtdetr_l.items() if not k.startswith('backbone.')}
    state['backbone.conv1.conv1_1.conv.weight'] = torch.zeros(32, 3, 3, 3)
    state['backbone.res_layers.0.blocks.0.branch2a.conv.weight'] = torch.zeros(64, 64, 1, 1)
    with pytest.raises(CheckpointError, match='backbone is not HGNetV2.*ResNet backbone'):
        convert_detector(state)


def test_an_rtdetr_of_an_unpublished_variant_is_refused_naming_the_variants(rtdetr_l):
    state = {k: v for k, v in rtdetr_l.items() if not k.startswith('backbone.')}
    state.update({'backbone.' + k: v for k, v in HGNetV2(arch='B0', init_cfg=None).state_dict().items()})
    with pytest.raises(CheckpointError, match=r'HGNetV2-B0 backbone.*known: l \(HGNetV2-B4'):
        convert_detector(state)


@pytest.fixture(scope='module')
def dfine_n(tmp_path_factory):
    """transformers' D-FINE-N (random weights), as its reference builds it."""
    path = tmp_path_factory.mktemp('dfine') / 'dfine_n.pt'
    run_reference([str(REPO / 'tools/dfine_reference.py'), 'state', 'n', str(path)])
    return torch.load(path, weights_only=True)


def test_dfine_release_maps_to_transformers_d_fine_names_exactly(dfine_n):
    release = dfine_release_state(dfine_n)
    checkpoint = {'model': {k: v + 1 if v.is_floating_point() else v for k, v in release.items()},
                  'ema': {'module': release, 'updates': 1}}
    assert detect_detector_layout(checkpoint) == 'dfine_release'
    assert detect_detector_layout(dfine_n) == 'dfine_transformers'
    hf = dfine_to_transformers(checkpoint)
    expected = {k: v for k, v in dfine_n.items() if not k.endswith('num_batches_tracked')}
    assert hf.keys() == expected.keys()
    differ = [k for k in expected if not torch.equal(hf[k], expected[k])]
    assert not differ, differ[:5]


def test_dfine_release_with_an_unknown_key_is_refused_naming_it(dfine_n):
    release = dict(dfine_release_state(dfine_n), **{'decoder.extra_head.weight': torch.zeros(2, 2)})
    with pytest.raises(CheckpointError, match='decoder.extra_head.weight'):
        dfine_to_transformers(release)


@needs_mmdet
def test_dfine_release_and_transformers_files_convert_to_the_same_model(dfine_n):
    from_release, info = convert_detector({'ema': {'module': dfine_release_state(dfine_n)}})
    from_hf, hf_info = convert_detector(dfine_n)
    assert (info['layout'], info['variant']) == ('dfine_release', 'n')
    assert (hf_info['layout'], hf_info['variant']) == ('dfine_transformers', 'n')
    assert from_release.keys() == from_hf.keys()
    assert all(torch.equal(from_release[k], from_hf[k]) for k in from_hf)
    model = build_model(load_config(str(REPO / info['config'])))
    model.load_state_dict(from_release, strict=True)


def test_transformers_rtdetr_v2_goes_to_its_converter_with_the_backbone_left_out():
    transformers = pytest.importorskip('transformers')
    resnet = transformers.RTDetrResNetConfig(embedding_size=8, hidden_sizes=[16, 32, 64, 128],
                                             depths=[1, 1, 1, 1], layer_type='basic',
                                             out_features=['stage2', 'stage3', 'stage4'])
    config = transformers.RTDetrV2Config(
        backbone_config=resnet, encoder_in_channels=[32, 64, 128], encoder_hidden_dim=32,
        encoder_ffn_dim=64, d_model=32, decoder_in_channels=[32] * 3, decoder_ffn_dim=64,
        decoder_layers=2, num_queries=10, num_labels=3)
    state = transformers.RTDetrV2ForObjectDetection(config).state_dict()
    assert detect_detector_layout(state) == 'rtdetr_v2_transformers'
    converted, info = convert_detector(state)
    assert (info['variant'], info['config'], info['num_classes']) == (None, None, 3)
    assert info['left_out'] and all(k.startswith('model.backbone.') for k in info['left_out'])
    assert 'decoder.layers.1.cross_attn.sampling_offsets.weight' in converted


@needs_mmdet
@pytest.mark.parametrize('variant', ['l', 'x', 'h'])
def test_rtdetr_release_config_has_the_release_preprocessing_and_sizes(variant):
    row = DETECTOR_VARIANTS['rtdetr', variant]
    cfg = load_config(str(REPO / row['config']))
    preprocessor = cfg.model.data_preprocessor
    assert (preprocessor.mean, preprocessor.std, preprocessor.bgr_to_rgb) == ([0.0] * 3, [255.0] * 3,
                                                                              True)
    resize = next(t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'Resize')
    assert (tuple(resize.scale), resize.keep_ratio) == ((640, 640), False)
    assert (cfg.model.backbone.arch, cfg.model.backbone.init_cfg) == (row['arch'], None)
    assert cfg.model.neck.embed_dims == row['hidden_dim'] and cfg.model.num_queries == 300
    assert cfg.model.neck.encoder.num_layers == (2 if variant == 'h' else 1)


def _class_layers_only_differ(converted, config):
    """The keys of ``converted`` whose shape does not fit the model of ``config`` (what mmengine's
    ``load_from`` skips with a warning); every other key fits it."""
    ours = build_model(load_config(str(REPO / config))).state_dict()
    assert set(ours) == set(converted)
    return sorted(k for k in ours if ours[k].shape != converted[k].shape)


# a COCO release fine-tuned on 3 classes: only the classifiers of every decoder layer and of the
# encoder's query selection, and the denoising label embedding, are re-initialised
CLASS_LAYERS = ['bbox_head.cls_branches.{}.bias', 'bbox_head.cls_branches.{}.weight']


@needs_mmdet
def test_rtdetr_l_release_fits_its_finetune_config_but_for_the_class_layers(rtdetr_l):
    converted, _ = convert_detector(rtdetr_l)
    differ = _class_layers_only_differ(
        converted, 'configs/rtdetr/rtdetr_hgnetv2-l_release_finetune_tiny-coco.py')
    expected = [k.format(i) for i in range(7) for k in CLASS_LAYERS]  # 6 decoder layers + encoder
    assert differ == sorted(expected + ['dn_query_generator.label_embedding.weight'])


@needs_mmdet
def test_deim_n_release_fits_its_finetune_config_but_for_the_class_layers(dfine_n):
    converted, _ = convert_detector({'ema': {'module': dfine_release_state(dfine_n)}})
    differ = _class_layers_only_differ(converted, 'configs/deim/deim_hgnetv2-n_finetune_tiny-coco.py')
    expected = [k.format(i) for i in range(4) for k in CLASS_LAYERS]  # 3 decoder layers + encoder
    assert differ == sorted(expected + ['dn_query_generator.label_embedding.weight'])
