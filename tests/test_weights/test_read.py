"""Safe reading: nothing in a checkpoint file runs, and unreadable input names the file."""
import codecs
import pickle

import numpy as np
import pytest
import torch

from hgnet_backbones import HGNetV2
from hgnet_backbones.weights import (CheckpointError, UnsafePickleError, detect_format, read_checkpoint,
                                     read_pdparams)
from payload import Payload


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


def test_read_pdparams_reads_a_protocol_2_pickle(tmp_path):
    # older Paddle releases pickle with protocol 2, where an array's bytes go through _codecs.encode
    weights = {'stem.stem1.conv.weight': np.linspace(-1, 1, 432, dtype=np.float32).reshape(16, 3, 3, 3),
               'stem.stem1.bn._variance': np.full(16, 0.25, dtype=np.float32),
               'fc.weight': np.eye(4, 3, dtype=np.float32)}
    path = tmp_path / 'old.pdparams'
    path.write_bytes(pickle.dumps({**weights, 'StructuredToParameterName@@': {'fc.weight': 'fc_0.w_0'}},
                                  protocol=2))
    assert b'_codecs\nencode' in path.read_bytes()  # the file really uses it
    state = read_pdparams(str(path))
    assert state.keys() == weights.keys()
    for name, array in weights.items():
        assert state[name].dtype == array.dtype
        np.testing.assert_array_equal(state[name], array)


class _Decode:
    def __reduce__(self):
        return codecs.decode, (b'x', 'latin1')


def test_pdparams_may_use_codecs_encode_but_not_its_neighbour_decode(tmp_path):
    path = tmp_path / 'decode.pdparams'
    path.write_bytes(pickle.dumps({'w': _Decode()}, protocol=2))
    with pytest.raises(UnsafePickleError, match='refused to load _codecs.decode'):
        read_pdparams(str(path))


def test_malicious_pdparams_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / 'pwned.txt'
    evil = tmp_path / 'evil.pdparams'
    evil.write_bytes(pickle.dumps({'stem.stem1.conv.weight': Payload(str(target))}))
    with pytest.raises(UnsafePickleError, match='refused to load shutil.copyfile'):
        read_pdparams(str(evil))
    with pytest.raises(UnsafePickleError):
        HGNetV2(arch='B0', init_cfg=dict(type='Pretrained', checkpoint=str(evil))).init_weights()
    assert not target.exists()


@pytest.mark.parametrize('zipped', [True, False], ids=['zip', 'legacy'])
def test_malicious_torch_file_is_refused_and_runs_nothing(tmp_path, zipped):
    target = tmp_path / 'pwned.txt'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': Payload(str(target))}, evil,
               _use_new_zipfile_serialization=zipped)
    with pytest.raises(CheckpointError, match='weights_only=True'):
        read_checkpoint(str(evil))
    with pytest.raises(CheckpointError):
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


def test_directory_is_named_as_a_directory(tmp_path):
    with pytest.raises(CheckpointError, match=f'{tmp_path} is a directory, not a checkpoint file'):
        read_checkpoint(str(tmp_path))


def test_corrupt_safetensors_error_names_the_file(tmp_path):
    bad = tmp_path / 'weights.safetensors'
    bad.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": broken')
    with pytest.raises(CheckpointError, match=f'cannot read {bad} as a safetensors file'):
        read_checkpoint(str(bad))
