"""From a source (path, URL, published name) to weights in a model or a converted file."""
import os

import pytest
import torch

from hgnet_backbones import HGNetV2
from hgnet_backbones.weights import CheckpointError, convert_checkpoint_file, resolve_checkpoint
from hgnet_backbones.weights.zoo import PADDLECLAS_WEIGHTS_URL, WEIGHTS_MIRROR_ENV, official_weights_url


def _pdparams(fixtures, arch):
    return str(fixtures / f'PPHGNetV2_{arch}.pdparams')


def _loaded(checkpoint, arch='B0'):
    model = HGNetV2(arch=arch, init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    model.init_weights()
    return model.state_dict()


def test_url_in_init_cfg_loads_the_same_weights_as_the_file(http_server, paddle_fixtures, torch_home):
    http_server.routes['/PPHGNetV2_B0.pdparams'] = open(_pdparams(paddle_fixtures, 'B0'), 'rb').read()
    local = _loaded(_pdparams(paddle_fixtures, 'B0'))
    for _ in range(2):
        remote = _loaded(http_server.url('/PPHGNetV2_B0.pdparams'))
        assert local.keys() == remote.keys()
        assert all(torch.equal(local[k], remote[k]) for k in local)
    assert http_server.requests == ['/PPHGNetV2_B0.pdparams']  # the second load used the cache


def test_short_names_resolve_to_paddleclas_urls(monkeypatch):
    monkeypatch.delenv(WEIGHTS_MIRROR_ENV, raising=False)
    assert official_weights_url('B4', 'ssld_stage1') == \
        PADDLECLAS_WEIGHTS_URL + 'PPHGNetV2_B4_ssld_stage1_pretrained.pdparams'
    assert official_weights_url('b2', 'ssld_stage2') == \
        PADDLECLAS_WEIGHTS_URL + 'PPHGNetV2_B2_ssld_pretrained.pdparams'
    with pytest.raises(ValueError, match="Unknown weights name 'stage3'"):
        official_weights_url('B4', 'stage3')
    with pytest.raises(ValueError, match="No published PP-HGNetV2 weights for arch 'B9'"):
        resolve_checkpoint('paddleclas://B9/ssld_stage1')


def test_short_name_downloads_the_published_file_through_a_mirror(http_server, paddle_fixtures,
                                                                   torch_home, monkeypatch):
    # the local server stands in for PaddleClas's folder, holding the B0 fixture under the file
    # name PaddleClas publishes its stage-1 weights with
    http_server.routes['/PPHGNetV2_B0_ssld_stage1_pretrained.pdparams'] = \
        open(_pdparams(paddle_fixtures, 'B0'), 'rb').read()
    monkeypatch.setenv(WEIGHTS_MIRROR_ENV, http_server.base)
    loaded = _loaded('ssld_stage1')
    direct = _loaded(_pdparams(paddle_fixtures, 'B0'))
    assert all(torch.equal(loaded[k], direct[k]) for k in direct)
    assert http_server.requests == ['/PPHGNetV2_B0_ssld_stage1_pretrained.pdparams']


def test_unknown_weights_name_lists_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="'ssld_stage3' is neither a file nor a known weights "
                                              "name; known names: ssld_stage1, ssld_stage2"):
        _loaded('ssld_stage3')


def test_published_name_without_a_builtin_arch_says_what_to_give():
    with pytest.raises(ValueError, match="'ssld_stage1' names published weights of a built-in arch"):
        resolve_checkpoint('ssld_stage1', arch=None)


def test_convert_refuses_to_overwrite_its_input(paddle_fixtures, tmp_path):
    src = tmp_path / 'b0.pdparams'
    src.write_bytes(open(_pdparams(paddle_fixtures, 'B0'), 'rb').read())
    link = tmp_path / 'link.pdparams'
    link.symlink_to(src)
    before = src.read_bytes()
    for dst in (src, link):
        with pytest.raises(ValueError, match='is the input checkpoint itself'):
            convert_checkpoint_file(str(src), str(dst))
    assert src.read_bytes() == before


def test_converted_checkpoint_loads_with_weights_only_and_a_failed_one_writes_nothing(
        paddle_fixtures, tmp_path):
    dst = tmp_path / 'b0.pth'
    convert_checkpoint_file(_pdparams(paddle_fixtures, 'B0'), str(dst))
    saved = torch.load(dst, weights_only=True)
    assert saved['meta']['arch'] == 'B0' and saved['meta']['source_format'] == 'paddle'
    assert all(torch.equal(saved['state_dict'][f'backbone.{k}'], v)
               for k, v in _loaded(_pdparams(paddle_fixtures, 'B0')).items()
               if not k.endswith('num_batches_tracked'))
    wrong = tmp_path / 'wrong.pth'
    with pytest.raises(CheckpointError, match='does not fit HGNetV2-B4'):
        convert_checkpoint_file(_pdparams(paddle_fixtures, 'B0'), str(wrong), arch='B4')
    assert sorted(os.listdir(tmp_path)) == ['b0.pth']
