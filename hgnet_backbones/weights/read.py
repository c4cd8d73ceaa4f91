"""Reading checkpoint files as they are stored, safely: no file can run code while it is read.

- ``.pdparams`` (PaddlePaddle: a pickled dict of NumPy arrays): a restricted unpickler that resolves
  only NumPy's array reconstruction and plain containers.
- ``.safetensors``: the safetensors library (no pickle at all).
- torch files (zip or legacy pickle): ``torch.load(weights_only=True)``; a legacy pickle is first tried
  with the restricted unpickler, as old timm files hold NumPy-free tensors only.
"""
import codecs
import collections
import io
import os
import pickle
import zipfile
from typing import Dict, Mapping, Tuple

import numpy as np
import torch

PADDLE_NAME_TABLE_KEY = 'StructuredToParameterName@@'


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the model."""


class UnsafePickleError(CheckpointError, pickle.UnpicklingError):
    """A pickle that references something other than NumPy arrays and plain containers."""


def _numpy_globals() -> Dict[Tuple[str, str], object]:
    try:  # NumPy >= 2
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    allowed = {('numpy', 'ndarray'): np.ndarray, ('numpy', 'dtype'): np.dtype,
               ('collections', 'OrderedDict'): collections.OrderedDict,
               # pickle protocol 2 (older Paddle releases) writes bytes as _codecs.encode(str, 'latin1');
               # torch's weights_only unpickler allows it too
               ('_codecs', 'encode'): codecs.encode}
    # Files written with NumPy 1.x name the module numpy.core.multiarray, NumPy 2 numpy._core.multiarray.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed[(module, '_reconstruct')] = multiarray._reconstruct
        allowed[(module, 'scalar')] = multiarray.scalar
    return allowed


class _PdparamsUnpickler(pickle.Unpickler):
    """Resolves only NumPy's array reconstruction, OrderedDict and the bytes encoding of pickle
    protocol 2; nothing else in the pickle runs."""

    allowed = _numpy_globals()

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f'refused to load {module}.{name}: a .pdparams may only hold NumPy arrays, '
                'dtypes and plain containers') from None


def read_pdparams(path: str) -> Dict[str, np.ndarray]:
    """Read a PaddlePaddle ``.pdparams`` (a pickled dict of NumPy arrays) without Paddle.

    The restricted unpickler refuses any pickle that references other callables, so a malicious file
    cannot run code. ``StructuredToParameterName@@`` (Paddle's internal name table) is dropped.
    """
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        obj = _PdparamsUnpickler(io.BytesIO(raw)).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f'{path}: {e}') from None
    except Exception as e:  # truncated or not a pickle: EOFError, UnpicklingError, ValueError, ...
        raise CheckpointError(f'{path} is truncated or not a .pdparams file '
                              f'({type(e).__name__}: {e})') from None
    if not isinstance(obj, dict):
        raise CheckpointError(f'{path} holds a {type(obj).__name__}, not a dict of arrays')
    obj.pop(PADDLE_NAME_TABLE_KEY, None)
    bad = [k for k, v in obj.items()
           if not isinstance(k, str) or not isinstance(v, np.ndarray) or v.dtype.hasobject]
    if bad:
        raise CheckpointError(f'{path}: entries that are not numeric arrays: {bad[:5]}')
    return obj


def is_safetensors(path: str) -> bool:
    """A safetensors file starts with an 8-byte header length, then its JSON header."""
    with open(path, 'rb') as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b'{'


def _read_safetensors(path: str, map_location) -> Dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f'{path} is a safetensors file: pip install safetensors') from None
    try:
        return load_file(path, device=str(map_location))
    except Exception as e:
        raise CheckpointError(f'cannot read {path} as a safetensors file '
                              f'({type(e).__name__}: {e})') from None


def read_checkpoint(path: str, map_location='cpu') -> Mapping:
    """Read a checkpoint file as it is stored: ``.pdparams`` (NumPy arrays), ``.safetensors``, or a
    torch file loaded with ``weights_only=True``. Nothing in the file is run."""
    path = os.path.expanduser(str(path))
    if os.path.isdir(path):
        raise CheckpointError(f'{path} is a directory, not a checkpoint file')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file {path} not found')
    if path.endswith('.pdparams'):
        return read_pdparams(path)
    if path.endswith('.safetensors') or is_safetensors(path):
        return _read_safetensors(path, map_location)
    if not zipfile.is_zipfile(path):
        with open(path, 'rb') as f:
            is_pickle = f.read(1) == b'\x80'
        if is_pickle:  # torch's legacy format is a pickle too: try the safe reader first
            try:
                return read_pdparams(path)
            except CheckpointError:
                pass
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f'cannot read {path} as a checkpoint ({type(e).__name__}: {e}). Torch files are read '
            'with weights_only=True: a file that needs anything but tensors and plain containers '
            'is refused, as it could run code') from None
