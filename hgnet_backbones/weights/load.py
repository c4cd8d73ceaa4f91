"""From a checkpoint source (a path, an http(s) URL, ``paddleclas://B4/ssld_stage1``, a short name of
published weights, or the name other ports publish them under) to converted weights in a model or a
file.

Every source is read by :mod:`.read` (nothing in a file runs), downloaded by :mod:`.fetch`
(timeouts, URL-keyed cache) and converted by :mod:`.convert`.
"""
import difflib
import os
from typing import Dict, Optional

import torch

from ..fileio import atomic_open
from ..models.hgnetv2 import HGNetV2
from .convert import (backbone_state_dict, check_backbone_state, check_finite, convert_state_dict,
                      detect_format, guess_arch, unwrap)
from .fetch import download
from .read import CheckpointError, read_checkpoint
from .zoo import (PORT_WEIGHTS, WEIGHT_FILES, known_weight_names, mirrored, official_weights_url,
                  port_weights)

PADDLECLAS_SCHEME = 'paddleclas://'
CHECKPOINT_SUFFIXES = ('.pdparams', '.pth', '.pt', '.safetensors', '.bin', '.ckpt', '.tar')


def _looks_like_a_name(source: str) -> bool:
    """Not a path one would write for a file: no folder (but an 'org/model' id), no file suffix."""
    return (not source.startswith(('.', os.sep, '/')) and source.count('/') <= 1
            and not source.lower().endswith(CHECKPOINT_SUFFIXES))


def resolve_checkpoint(checkpoint: str, arch: Optional[str] = None) -> str:
    """A local file for ``checkpoint``: a path, an http(s) URL (downloaded to the cache, see
    :mod:`.fetch`), ``paddleclas://B4/ssld_stage1``, a short name ('ssld_stage1', 'ssld_stage2') of
    ``arch``'s published weights, or a name other ports publish weights under (D-FINE's and
    RT-DETR's releases, timm's tags, Hugging Face model ids: :data:`~.zoo.PORT_WEIGHTS`)."""
    checkpoint = os.path.expanduser(str(checkpoint))
    port = None if os.path.exists(checkpoint) else port_weights(checkpoint)
    if checkpoint in WEIGHT_FILES:
        if arch is None or arch == 'custom':
            raise ValueError(f'{checkpoint!r} names published weights of a built-in arch; give the '
                             "arch (B0..B6) or use 'paddleclas://B4/{checkpoint}'")
        checkpoint = official_weights_url(arch, checkpoint)
    elif checkpoint.startswith(PADDLECLAS_SCHEME):
        arch_name, _, weights = checkpoint[len(PADDLECLAS_SCHEME):].partition('/')
        checkpoint = official_weights_url(arch_name, weights or 'ssld_stage2')
    elif port is not None:
        if port.arch is not None and arch not in (None, 'custom', port.arch):
            raise CheckpointError(f'{checkpoint!r} holds HGNetV2-{port.arch} weights; the backbone is '
                                  f'HGNetV2-{arch}')
        checkpoint = port.url
    if checkpoint.startswith(('http://', 'https://')):
        return download(mirrored(checkpoint), check=read_checkpoint)
    if not os.path.exists(checkpoint) and _looks_like_a_name(checkpoint):
        close = difflib.get_close_matches(checkpoint, [*WEIGHT_FILES, *PORT_WEIGHTS], n=3)
        raise CheckpointError(
            f'{checkpoint!r} is neither a file nor a known weights name; known names: '
            f'{"; ".join(known_weight_names())}; http(s) URLs and paths'
            f'{f". Did you mean {close}?" if close else ""}')
    return checkpoint


def load_converted(checkpoint: str, arch: Optional[str] = None, map_location='cpu'
                   ) -> Dict[str, torch.Tensor]:
    """Resolve, read and convert ``checkpoint`` (see :func:`resolve_checkpoint`) to the classifier
    layout (``backbone.*``, ``head.*``)."""
    path = resolve_checkpoint(checkpoint, arch)
    return convert_state_dict(read_checkpoint(path, map_location=map_location))


def load_pretrained_backbone(model: HGNetV2, checkpoint: str, prefix: Optional[str] = None,
                             map_location='cpu') -> None:
    """Load ``checkpoint`` into an :class:`~hgnet_backbones.HGNetV2`, requiring every key to match
    and every value to be finite.

    ``prefix`` selects a sub-module's weights in an mmengine checkpoint (e.g. 'backbone.', the
    default for converted and classifier checkpoints).
    """
    state = load_converted(checkpoint, getattr(model, 'arch_name', None), map_location)
    backbone = backbone_state_dict(state, prefix or 'backbone.')
    check_backbone_state(model, backbone, f'checkpoint {checkpoint!r}')
    for key, value in model.state_dict().items():
        backbone.setdefault(key, value)  # a missing num_batches_tracked keeps its value
    model.load_state_dict(backbone, strict=True)


def convert_checkpoint_file(src: str, dst: str, arch: Optional[str] = None,
                            backbone_only: bool = False) -> dict:
    """Convert a PaddleClas / timm checkpoint (path, URL or ``paddleclas://`` name) to an mmengine
    checkpoint at ``dst``: ``state_dict`` (``backbone.*`` and, unless ``backbone_only``, ``head.*``,
    plain tensors that ``torch.load(weights_only=True)`` reads) and ``meta`` (source, arch, format).

    ``arch``, when given, must be the variant the weights are of; it also resolves the short names
    'ssld_stage1' / 'ssld_stage2'. ``dst`` is written atomically and may not be the source file.
    Returns the written checkpoint.
    """
    if arch is not None:
        arch = HGNetV2.parse_arch(arch)[0]
    path = resolve_checkpoint(src, arch)
    if os.path.exists(dst) and os.path.samefile(path, dst):
        raise ValueError(f'the output {dst} is the input checkpoint itself; write the converted '
                         'checkpoint to another file')
    raw = unwrap(read_checkpoint(path))
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
    check_finite(state, src)
    if backbone_only:
        state = {k: v for k, v in state.items() if k.startswith('backbone.')}
    checkpoint = {'state_dict': {k: v.contiguous() for k, v in state.items()},
                  'meta': {'source': str(src), 'source_format': source_format,
                           'arch': arch or looks_like}}
    with atomic_open(dst) as f:
        torch.save(checkpoint, f)
    return checkpoint
