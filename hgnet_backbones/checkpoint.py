"""Reading PP-HGNetV2 weights: PaddleClas ``.pdparams`` (without Paddle), timm and mmengine checkpoints,
converted to this project's names by one pure function, :func:`convert_state_dict`.

Converted state dicts use a classifier's layout: ``backbone.*`` (:class:`~hgnet_backbones.HGNetV2`) and
``head.*`` (:class:`~hgnet_backbones.HGNetV2ClsHead`).
"""
import collections
import functools
import io
import os
import pickle
import zipfile
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import urlparse

import numpy as np
import torch

from .model_zoo import WEIGHT_FILES, official_weights_url

PADDLE_NAME_TABLE_KEY = 'StructuredToParameterName@@'
PADDLECLAS_SCHEME = 'paddleclas://'


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
               ('collections', 'OrderedDict'): collections.OrderedDict}
    # Files written with NumPy 1.x name the module numpy.core.multiarray, NumPy 2 numpy._core.multiarray.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed[(module, '_reconstruct')] = multiarray._reconstruct
        allowed[(module, 'scalar')] = multiarray.scalar
    return allowed


class _PdparamsUnpickler(pickle.Unpickler):
    """Resolves only NumPy's array reconstruction and OrderedDict; nothing else in the pickle runs."""

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


def _is_safetensors(path: str) -> bool:
    with open(path, 'rb') as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b'{'


def read_checkpoint(path: str, map_location='cpu') -> Mapping:
    """Read a checkpoint file as it is stored: ``.pdparams`` (NumPy arrays), ``.safetensors``, or a
    torch file loaded with ``weights_only=True``."""
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file {path} not found')
    if path.endswith('.pdparams'):
        return read_pdparams(path)
    if path.endswith('.safetensors') or _is_safetensors(path):
        from safetensors.torch import load_file
        return load_file(path, device=str(map_location))
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
        raise CheckpointError(f'cannot read {path} as a checkpoint ({type(e).__name__}: {e})') from None


def _to_tensor(value) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))  # copy: arrays from a pickle may be read-only
    return value


def _unwrap(checkpoint: Mapping) -> Mapping:
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint.get(key), Mapping):
            return checkpoint[key]
    return checkpoint


def detect_format(state: Mapping) -> str:
    """'paddle', 'timm' or 'mmengine' (this project's names), from the keys of a state dict."""
    keys = list(state)
    if any(k.endswith(('._mean', '._variance')) for k in keys):
        return 'paddle'
    if any('.aggregation.0.' in k or (k.startswith('head.last_conv.') and k.count('.') == 3)
           for k in keys):
        return 'timm'
    return 'mmengine'


def _paddle_key(key: str, value):
    if key.endswith('._mean'):
        key = key[:-len('_mean')] + 'running_mean'
    elif key.endswith('._variance'):
        key = key[:-len('_variance')] + 'running_var'
    if key.startswith(('stem.', 'stages.')):
        return 'backbone.' + key, value
    if key == 'fc.weight':  # Paddle's Linear stores [in, out]
        return 'head.fc.weight', value.t()
    if key.startswith(('last_conv.', 'lab.', 'fc.')):
        return 'head.' + key, value
    return key, value


_TIMM_RENAMES = (('.aggregation.0.', '.aggregation_squeeze_conv.'),
                 ('.aggregation.1.', '.aggregation_excitation_conv.'),
                 ('head.last_conv.0.', 'head.last_conv.'),
                 ('head.last_conv.2.', 'head.lab.'))


def _timm_key(key: str, value):
    for old, new in _TIMM_RENAMES:
        key = key.replace(old, new)
    if key.startswith(('stem.', 'stages.')):
        return 'backbone.' + key, value
    return key, value


def _mmengine_key(key: str, value):
    if key.startswith('module.'):
        key = key[len('module.'):]
    if key.startswith(('stem.', 'stages.')):  # a bare backbone state dict
        return 'backbone.' + key, value
    return key, value


def convert_state_dict(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """Convert a PaddleClas, timm or mmengine PP-HGNetV2 checkpoint to this project's classifier layout
    (``backbone.*``, ``head.*``; other keys, e.g. a detector's neck, keep their names)."""
    state = _unwrap(checkpoint)
    rename = {'paddle': _paddle_key, 'timm': _timm_key, 'mmengine': _mmengine_key}[detect_format(state)]
    converted = {}
    for key, value in state.items():
        if key == PADDLE_NAME_TABLE_KEY:
            continue
        new_key, tensor = rename(key, _to_tensor(value))
        converted[new_key] = tensor
    for key in [k for k in converted if k.endswith('.running_mean')]:  # Paddle has no batch counter
        converted.setdefault(key[:-len('running_mean')] + 'num_batches_tracked', torch.tensor(0))
    return converted


def backbone_state_dict(state: Mapping, prefix: str = 'backbone.') -> Dict[str, torch.Tensor]:
    """The entries under ``prefix``, with the prefix stripped."""
    if not prefix.endswith('.'):
        prefix += '.'
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


@functools.lru_cache(maxsize=None)
def _arch_shapes(arch: str) -> Dict[str, Tuple[int, ...]]:
    from .models.hgnetv2 import HGNetV2
    with torch.device('meta'):
        model = HGNetV2(arch=arch, init_cfg=None)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def guess_arch(state: Mapping) -> Tuple[str, bool]:
    """``(arch, exact)``: the built-in arch whose backbone keys and shapes best match ``state``."""
    from .models.hgnetv2 import HGNetV2
    have = {k: tuple(v.shape) for k, v in state.items() if not k.endswith('num_batches_tracked')}
    best, best_score = None, -1.0
    for arch in HGNetV2.arch_zoo:
        want = {k: s for k, s in _arch_shapes(arch).items() if not k.endswith('num_batches_tracked')}
        if want == have:
            return arch, True
        score = len(set(want.items()) & set(have.items())) / max(len(set(want) | set(have)), 1)
        if score > best_score:
            best, best_score = arch, score
    return best, False


def _short_list(items, n=8) -> str:
    items = list(items)
    more = f' ... ({len(items) - n} more)' if len(items) > n else ''
    return ', '.join(items[:n]) + more


def check_backbone_state(model: torch.nn.Module, state: Mapping, source: str) -> None:
    """Raise :class:`CheckpointError` naming the missing, unexpected and mis-shaped keys (and the arch
    the checkpoint looks like) unless ``state`` fits ``model`` exactly. ``num_batches_tracked`` may be
    absent."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in want if k not in state and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in want]
    mismatched = [f'{k} {tuple(state[k].shape)} vs {want[k]}' for k in want
                  if k in state and tuple(state[k].shape) != want[k]]
    if not (missing or unexpected or mismatched):
        return
    if not state:
        raise CheckpointError(f'{source} holds no HGNetV2 backbone weights')
    looks_like, exact = guess_arch(state)
    arch = getattr(model, 'arch_name', '?')
    lines = [f'{source} does not fit HGNetV2-{arch}: it looks like '
             f'{"" if exact else "(closest) "}HGNetV2-{looks_like}.']
    for what, keys in (('missing keys', missing), ('unexpected keys', unexpected),
                       ('shape mismatches (checkpoint vs model)', mismatched)):
        if keys:
            lines.append(f'{what} ({len(keys)}): {_short_list(keys)}')
    raise CheckpointError('\n'.join(lines))


def download_weights(url: str) -> str:
    """Download ``url`` to ``<torch hub dir>/checkpoints`` (once; rank 0 first in distributed runs)
    and return the local path."""
    from mmengine.dist import barrier, get_dist_info
    filename = os.path.basename(urlparse(url).path)
    if not filename:
        raise ValueError(f'cannot tell a file name from URL {url!r}')
    folder = os.path.join(torch.hub.get_dir(), 'checkpoints')
    path = os.path.join(folder, filename)
    rank, world_size = get_dist_info()

    def fetch():
        if not os.path.isfile(path):
            os.makedirs(folder, exist_ok=True)
            # writes to a temporary file and renames it: no half-written file on failure
            torch.hub.download_url_to_file(url, path, progress=rank == 0)

    if rank == 0:
        fetch()
    if world_size > 1:
        barrier()
        if rank > 0:
            fetch()
    return path


def resolve_checkpoint(checkpoint: str, arch: Optional[str] = None) -> str:
    """A local file for ``checkpoint``: a path, an http(s) URL (downloaded to the torch hub cache),
    ``paddleclas://B4/ssld_stage1``, or a short name ('ssld_stage1', 'ssld_stage2') of ``arch``'s
    published weights."""
    checkpoint = str(checkpoint)
    if checkpoint in WEIGHT_FILES:
        if arch is None or arch == 'custom':
            raise ValueError(f'{checkpoint!r} names published weights, which need a built-in arch')
        checkpoint = official_weights_url(arch, checkpoint)
    elif checkpoint.startswith(PADDLECLAS_SCHEME):
        arch_name, _, weights = checkpoint[len(PADDLECLAS_SCHEME):].partition('/')
        checkpoint = official_weights_url(arch_name, weights or 'ssld_stage2')
    if checkpoint.startswith(('http://', 'https://')):
        return download_weights(checkpoint)
    return checkpoint


def load_converted(checkpoint: str, arch: Optional[str] = None, map_location='cpu'
                   ) -> Dict[str, torch.Tensor]:
    """Resolve, read and convert ``checkpoint`` (see :func:`resolve_checkpoint`) to the classifier
    layout."""
    path = resolve_checkpoint(checkpoint, arch)
    return convert_state_dict(read_checkpoint(path, map_location=map_location))


def load_pretrained_backbone(model: torch.nn.Module, checkpoint: str, prefix: Optional[str] = None,
                             map_location='cpu') -> None:
    """Load ``checkpoint`` into an :class:`~hgnet_backbones.HGNetV2`, requiring every key to match.

    ``prefix`` selects a sub-module's weights in an mmengine checkpoint (e.g. 'backbone.', the
    default for converted and classifier checkpoints).
    """
    state = load_converted(checkpoint, getattr(model, 'arch_name', None), map_location)
    backbone = backbone_state_dict(state, prefix or 'backbone.')
    check_backbone_state(model, backbone, f'checkpoint {checkpoint!r}')
    for key, value in model.state_dict().items():
        backbone.setdefault(key, value)  # a missing num_batches_tracked keeps its value
    model.load_state_dict(backbone, strict=True)


def _converted_checkpoint(checkpoint: str, map_location=None) -> dict:
    state = load_converted(checkpoint, map_location=map_location or 'cpu')
    arch, exact = guess_arch(backbone_state_dict(state))
    return {'state_dict': state,
            'meta': {'source': checkpoint, 'arch': arch if exact else 'unknown'}}


def register_checkpoint_loaders() -> None:
    """Let mmengine's ``load_from``, ``load_checkpoint`` and ``init_cfg=dict(type='Pretrained')`` take
    PaddleClas weights: local ``*.pdparams`` files, http(s) URLs of them and ``paddleclas://B4/ssld_stage1``
    names, each converted to the classifier layout (``backbone.*``, ``head.*``). Other http(s) URLs go
    to mmengine's own loader as before."""
    from mmengine.runner.checkpoint import CheckpointLoader, load_from_http

    def load_http(filename, map_location=None, model_dir=None):
        if urlparse(filename).path.endswith('.pdparams'):
            return _converted_checkpoint(filename, map_location)
        return load_from_http(filename, map_location=map_location, model_dir=model_dir)

    CheckpointLoader.register_scheme(r'.*\.pdparams$', _converted_checkpoint, force=True)
    CheckpointLoader.register_scheme(PADDLECLAS_SCHEME, _converted_checkpoint, force=True)
    CheckpointLoader.register_scheme(('http://', 'https://'), load_http, force=True)


def save_checkpoint_atomic(checkpoint: dict, path: str) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f'.{os.path.basename(path)}.tmp-{os.getpid()}')
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def convert_checkpoint_file(src: str, dst: str, arch: Optional[str] = None,
                            backbone_only: bool = False) -> dict:
    """Convert a PaddleClas / timm checkpoint (path, URL or ``paddleclas://`` name) to an mmengine
    checkpoint at ``dst``: ``state_dict`` (``backbone.*`` and, unless ``backbone_only``, ``head.*``,
    plain tensors that ``torch.load(weights_only=True)`` reads) and ``meta`` (source, arch, format).

    ``arch``, when given, must be the variant the weights are of; it also resolves the short names
    'ssld_stage1' / 'ssld_stage2'. Returns the written checkpoint.
    """
    from .models.hgnetv2 import HGNetV2
    if arch is not None:
        arch = HGNetV2.parse_arch(arch)[0]
    path = resolve_checkpoint(src, arch)
    raw = _unwrap(read_checkpoint(path))
    source_format = detect_format(raw)
    state = convert_state_dict(raw)
    backbone = backbone_state_dict(state)
    looks_like, exact = guess_arch(backbone)
    if arch is not None:
        with torch.device('meta'):
            model = HGNetV2(arch=arch, init_cfg=None)
        check_backbone_state(model, backbone, src)
    elif not exact:
        raise CheckpointError(f'{src} is no built-in HGNetV2 variant (closest: {looks_like}); '
                              'pass the arch to get the differing keys')
    if backbone_only:
        state = {k: v for k, v in state.items() if k.startswith('backbone.')}
    checkpoint = {'state_dict': {k: v.contiguous() for k, v in state.items()},
                  'meta': {'source': str(src), 'source_format': source_format,
                           'arch': arch or looks_like}}
    save_checkpoint_atomic(checkpoint, dst)
    return checkpoint
