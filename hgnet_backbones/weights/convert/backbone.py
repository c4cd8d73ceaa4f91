"""Pure functions from the state dicts other ports write (PaddleClas, timm and D-FINE, RT-DETR's
PyTorch port, Hugging Face transformers, mmengine checkpoints of this project) to this project's
names, and the checks that a state dict fits a backbone.

Converted state dicts use a classifier's layout: ``backbone.*`` (:class:`~hgnet_backbones.HGNetV2`)
and ``head.*`` (:class:`~hgnet_backbones.models.heads.HGNetV2ClsHead`).
"""
import functools
from typing import Callable, Dict, Mapping, Tuple

import numpy as np
import torch

from ...models.hgnetv2 import HGNetV2
from ..read import PADDLE_NAME_TABLE_KEY, CheckpointError

# timm (and D-FINE) names -> ours; Paddle's names are ours already
TIMM_RENAMES = (('.aggregation.0.', '.aggregation_squeeze_conv.'),
                ('.aggregation.1.', '.aggregation_excitation_conv.'),
                ('head.last_conv.0.', 'head.last_conv.'),
                ('head.last_conv.2.', 'head.lab.'))
BACKBONE_ROOTS = ('stem.', 'stages.')
# RT-DETR's PyTorch port pads stem2a/stem2b in an nn.Sequential(ZeroPad2d, Conv2d); Paddle's names else
RTDETR_RENAMES = (('stem.stem2a.conv.1.', 'stem.stem2a.conv.'),
                  ('stem.stem2b.conv.1.', 'stem.stem2b.conv.'))
# Hugging Face transformers' HGNetV2 (HGNetV2Backbone; in its D-FINE detectors under
# 'model.backbone.model.') -> ours, after the prefix before 'embedder.' / 'encoder.stages.' is cut
HF_STEM_KEY = 'embedder.stem1.convolution.weight'
HF_ROOT_RENAMES = (('embedder.', 'stem.'), ('encoder.stages.', 'stages.'))
HF_RENAMES = (('.convolution.', '.conv.'), ('.normalization.', '.bn.')) + TIMM_RENAMES[:2]


def _to_tensor(value) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))  # copy: arrays from a pickle may be read-only
    return value


def unwrap(checkpoint: Mapping) -> Mapping:
    """The state dict inside a checkpoint (``state_dict``, ``model`` or ``module``), else itself."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint.get(key), Mapping):
            return checkpoint[key]
    return checkpoint


def detect_format(state: Mapping) -> str:
    """'paddle', 'huggingface', 'rtdetr', 'timm' (timm and D-FINE) or 'mmengine' (this project's
    names), from the keys of a state dict."""
    keys = list(state)
    if any(k.endswith(('._mean', '._variance')) for k in keys):
        return 'paddle'
    if any(k.endswith(HF_STEM_KEY) for k in keys):
        return 'huggingface'
    if any(old in k for old, _ in RTDETR_RENAMES for k in keys):
        return 'rtdetr'
    if any('.aggregation.0.' in k or (k.startswith('head.last_conv.') and k.count('.') == 3)
           for k in keys):
        return 'timm'
    return 'mmengine'


def paddle_norm_name(key: str) -> str:
    """Paddle's BatchNorm statistics (``_mean``, ``_variance``) under torch's names; others as given."""
    if key.endswith('._mean'):
        return key[:-len('_mean')] + 'running_mean'
    if key.endswith('._variance'):
        return key[:-len('_variance')] + 'running_var'
    return key


def _paddle_key(key: str, value):
    key = paddle_norm_name(key)
    if key.startswith(BACKBONE_ROOTS):
        return 'backbone.' + key, value
    if key == 'fc.weight':  # Paddle's Linear stores [in, out]
        return 'head.fc.weight', value.t()
    if key.startswith(('last_conv.', 'lab.', 'fc.')):
        return 'head.' + key, value
    return key, value


def _timm_key(key: str, value):
    for old, new in TIMM_RENAMES:
        key = key.replace(old, new)
    if key.startswith(BACKBONE_ROOTS):
        return 'backbone.' + key, value
    return key, value


def _mmengine_key(key: str, value):
    if key.startswith('module.'):
        key = key[len('module.'):]
    if key.startswith(BACKBONE_ROOTS):  # a bare backbone state dict
        return 'backbone.' + key, value
    return key, value


def _rtdetr_key(key: str, value):
    for old, new in RTDETR_RENAMES:
        key = key.replace(old, new)
    return _mmengine_key(key, value)


def _hf_renamer(keys) -> Callable:
    """The renamer of a Hugging Face state dict whose backbone keys start with one prefix (none for
    an ``HGNetV2Backbone``, 'model.backbone.model.' in a D-FINE detector)."""
    prefixes = sorted({k[:-len(HF_STEM_KEY)] for k in keys if k.endswith(HF_STEM_KEY)})
    if len(prefixes) > 1:
        raise CheckpointError(f'the checkpoint holds {len(prefixes)} HGNetV2 backbones, under '
                              f'{prefixes}; save the one to load on its own')
    prefix = prefixes[0]

    def rename(key: str, value):
        for old, new in HF_ROOT_RENAMES:
            if key.startswith(prefix + old):
                key = new + key[len(prefix + old):]
                for old_part, new_part in HF_RENAMES:
                    key = key.replace(old_part, new_part)
                return 'backbone.' + key, value
        return key, value

    return rename


_RENAMERS = {'paddle': _paddle_key, 'timm': _timm_key, 'mmengine': _mmengine_key,
             'rtdetr': _rtdetr_key}


def convert_state_dict(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """Convert a PaddleClas, timm, D-FINE, RT-DETR, Hugging Face or mmengine PP-HGNetV2 checkpoint to
    this project's classifier layout (``backbone.*``, ``head.*``; other keys, e.g. a detector's neck,
    keep their names)."""
    state = unwrap(checkpoint)
    source_format = detect_format(state)
    rename = _hf_renamer(state) if source_format == 'huggingface' else _RENAMERS[source_format]
    converted = {}
    for key, value in state.items():
        if key == PADDLE_NAME_TABLE_KEY:
            continue
        new_key, tensor = rename(key, _to_tensor(value))
        converted[new_key] = tensor
    return add_batch_counters(converted)


def add_batch_counters(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``state`` with a zero ``num_batches_tracked`` beside each BatchNorm that lacks one (Paddle's
    and frozen norms, e.g. D-FINE's and HF detectors', keep no batch counter)."""
    for key in [k for k in state if k.endswith('.running_mean')]:
        state.setdefault(key[:-len('running_mean')] + 'num_batches_tracked', torch.tensor(0))
    return state


def to_timm_state_dict(backbone_state: Mapping) -> Dict[str, torch.Tensor]:
    """Our backbone's names -> timm's ``hgnetv2_*`` names (the inverse of the backbone renames)."""
    state = {}
    for key, value in backbone_state.items():
        for timm_name, ours in TIMM_RENAMES[:2]:
            key = key.replace(ours, timm_name)
        state[key] = value
    return state


def backbone_state_dict(state: Mapping, prefix: str = 'backbone.') -> Dict[str, torch.Tensor]:
    """The entries under ``prefix``, with the prefix stripped."""
    if not prefix.endswith('.'):
        prefix += '.'
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


@functools.lru_cache(maxsize=None)
def _arch_shapes(arch: str) -> Dict[str, Tuple[int, ...]]:
    with torch.device('meta'):
        model = HGNetV2(arch=arch, init_cfg=None)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def guess_arch(state: Mapping) -> Tuple[str, bool]:
    """``(arch, exact)``: the built-in arch whose backbone keys and shapes best match ``state``."""
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


def check_finite(state: Mapping, source: str) -> None:
    """Raise :class:`CheckpointError` naming the tensors that hold NaN or infinite values."""
    bad = [k for k, v in state.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f'{source} holds NaN or infinite values in {len(bad)} tensors: '
                              f'{_short_list(bad)}')


def check_backbone_state(model: torch.nn.Module, state: Mapping, source: str) -> None:
    """Raise :class:`CheckpointError` naming the missing, unexpected and mis-shaped keys (and the arch
    the checkpoint looks like) unless ``state`` fits ``model`` exactly, or if it holds NaN or
    infinite values. ``num_batches_tracked`` may be absent."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in want if k not in state and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in want]
    mismatched = [f'{k} {tuple(state[k].shape)} vs {want[k]}' for k in want
                  if k in state and tuple(state[k].shape) != want[k]]
    if not (missing or unexpected or mismatched):
        check_finite(state, source)
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
