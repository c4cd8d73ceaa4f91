"""HGNetV2 as the other implementations spell it: RT-DETR's and D-FINE's ``HGNetv2`` (and
PaddleDetection's ``PPHGNetV2``), with their argument names and the names of the weights their
``pretrained=True`` loads. Their arch names ('L', 'X', 'H') are :attr:`HGNetV2.arch_aliases`.

The weights layer (:mod:`hgnet_backbones.weights.zoo`) reads the release names here and adds where
those files are published.
"""
import inspect
from typing import Optional

from ..registry import MODELS
from .hgnetv2 import HGNetV2, is_int

# The releases RT-DETR's and D-FINE's HGNetv2(pretrained=True) load (PyTorch files), by `name`
DFINE_RELEASE = 'PPHGNetV2_{}_stage1'  # B0..B6, PaddleClas's stage-1 weights
RTDETR_RELEASE = 'PPHGNetV2_{}_ssld_pretrained_from_paddle'  # L, X, H
# The arguments of the RT-DETR (PyTorch port, PaddleDetection) and D-FINE ``HGNetv2``s that differ
# from ours, and the arguments of ours that give the same settings: a call uses one or the other.
PORT_ARGUMENTS = {'name': ('arch', ), 'return_idx': ('out_indices', ),
                  'freeze_at': ('frozen_stages', ), 'freeze_stem_only': ('frozen_stages', ),
                  'freeze_norm': ('norm_eval', ), 'pretrained': ('init_cfg', )}


def _is_rtdetr_name(name) -> bool:
    return isinstance(name, str) and name.upper() in HGNetV2.arch_aliases


def port_pretrained_weights(name: Optional[str]) -> str:
    """The weights RT-DETR's / D-FINE's ``HGNetv2(name=..., pretrained=True)`` loads: RT-DETR's release
    for 'L', 'X', 'H', D-FINE's stage-1 release for 'B0'..'B6'; without a name, PaddleClas's stage 1."""
    if name is None:
        return 'ssld_stage1'
    return (RTDETR_RELEASE if _is_rtdetr_name(name) else DFINE_RELEASE).format(name.upper())


def _port_arch(name) -> str:
    if isinstance(name, str) and (name.upper() in HGNetV2.arch_zoo or _is_rtdetr_name(name)):
        return HGNetV2.parse_arch(name)[0]
    raise ValueError(f"name must be one of {sorted(HGNetV2.arch_zoo)} (D-FINE) or "
                     f"{', '.join(f'{k} (= {v})' for k, v in HGNetV2.arch_aliases.items())} (RT-DETR); "
                     f'got {name!r}')


def _port_frozen_stages(port: dict) -> int:
    """``frozen_stages`` for the ports' ``freeze_at`` / ``freeze_stem_only``. D-FINE and PaddleDetection
    freeze the stem for ``freeze_at >= 0`` and, unless ``freeze_stem_only``, stages 1..freeze_at+1
    (defaults: 0, True); RT-DETR's PyTorch port (``name`` 'L', 'X' or 'H') has no ``freeze_stem_only``
    and freezes the stem and stages 1..freeze_at (default -1)."""
    rtdetr_pytorch = _is_rtdetr_name(port.get('name')) and 'freeze_stem_only' not in port
    freeze_at = port.get('freeze_at', -1 if rtdetr_pytorch else 0)
    stem_only = port.get('freeze_stem_only', True)
    if not is_int(freeze_at):
        raise ValueError(f'freeze_at must be an int (-1: nothing frozen), got {freeze_at!r}')
    if not isinstance(stem_only, bool):
        raise ValueError(f'freeze_stem_only must be True or False, got {stem_only!r}')
    if freeze_at < 0:
        return -1
    if rtdetr_pytorch:
        return min(freeze_at, 4)
    return 0 if stem_only else min(freeze_at + 1, 4)


def translate_port_arguments(ours: dict, port: dict) -> dict:
    """Our arguments ``ours`` plus the RT-DETR / D-FINE ones ``port`` (:data:`PORT_ARGUMENTS`), in our
    names, giving the model those ports build: ``name`` -> ``arch``; ``return_idx`` ->
    ``out_indices``; ``freeze_at`` / ``freeze_stem_only`` -> ``frozen_stages``; ``freeze_norm=True`` ->
    ``norm_eval=True`` and norms without trainable affine parameters (D-FINE's
    ``FrozenBatchNorm2d``); ``pretrained=True`` -> the weights that port loads, a str -> that
    checkpoint. Raises ValueError where both names of one setting are given."""
    ours = dict(ours)
    for port_name, value in port.items():
        for our_name in PORT_ARGUMENTS[port_name]:
            if our_name in ours:
                raise ValueError(
                    f'{port_name}={value!r} (the RT-DETR/D-FINE name) and {our_name}='
                    f'{ours[our_name]!r} set the same thing; give only one of them (see '
                    'docs/other_implementations.md)')
    if 'name' in port:
        ours['arch'] = _port_arch(port['name'])
    if 'return_idx' in port:
        ours['out_indices'] = port['return_idx']
    if 'freeze_at' in port or 'freeze_stem_only' in port:
        ours['frozen_stages'] = _port_frozen_stages(port)
    if 'freeze_norm' in port:
        freeze_norm = port['freeze_norm']
        if not isinstance(freeze_norm, bool):
            raise ValueError(f'freeze_norm must be True or False, got {freeze_norm!r}')
        ours['norm_eval'] = freeze_norm
        norm_cfg = ours.get('norm_cfg', _DEFAULTS['norm_cfg'])
        if freeze_norm and isinstance(norm_cfg, dict):
            if 'norm_cfg' in ours and norm_cfg.get('requires_grad') is True:
                raise ValueError(f'freeze_norm=True freezes the norms\' affine parameters, but '
                                 f'norm_cfg={norm_cfg!r} trains them; drop one of the two')
            ours['norm_cfg'] = dict(norm_cfg, requires_grad=False)
    if 'pretrained' in port:
        pretrained = port['pretrained']
        if pretrained is True:
            checkpoint = port_pretrained_weights(port.get('name'))
        elif isinstance(pretrained, str) and pretrained:
            checkpoint = pretrained
        elif pretrained in (False, None):
            return ours
        else:
            raise ValueError(f'pretrained must be True, False or a checkpoint (path, URL or weights '
                             f'name), got {pretrained!r}')
        ours['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint)
    return ours


_SIGNATURE = inspect.signature(HGNetV2.__init__)
_DEFAULTS = {k: p.default for k, p in _SIGNATURE.parameters.items()}


@MODELS.register_module(name=['HGNetv2', 'PPHGNetV2'])
class HGNetv2(HGNetV2):
    """:class:`HGNetV2` under RT-DETR's and D-FINE's class name (``HGNetv2``; PaddleDetection's
    ``PPHGNetV2``), taking their argument names beside ours and building the model they build.

    Args:
        name (str): 'B0'..'B6' (D-FINE), or RT-DETR's 'L', 'X', 'H' (= B4, B5, B6); for ``arch``.
        return_idx (Sequence[int]): For ``out_indices``.
        freeze_at (int): -1 freezes nothing; k >= 0 the stem and, unless ``freeze_stem_only``,
            stages 1..k+1 (D-FINE, PaddleDetection) or, with an RT-DETR ``name`` and no
            ``freeze_stem_only``, stages 1..k (RT-DETR's PyTorch port); for ``frozen_stages``.
        freeze_stem_only (bool): See ``freeze_at``.
        freeze_norm (bool): Norms in eval mode without trainable affine parameters; for
            ``norm_eval`` (and ``norm_cfg``'s ``requires_grad``).
        pretrained (bool | str): True: the weights that port loads (:func:`port_pretrained_weights`);
            a str: that checkpoint; for ``init_cfg``.
        **kwargs: :class:`HGNetV2`'s own arguments, positional ones included. One setting given
            under both names is refused (ValueError).
    """

    def __init__(self, *args, **kwargs):
        port = {k: kwargs.pop(k) for k in PORT_ARGUMENTS if k in kwargs}
        # bound by name first, positional ones included, so that a mix of both names for one setting
        # is seen however it was passed
        ours = _SIGNATURE.bind_partial(self, *args, **kwargs).arguments
        ours.pop('self')
        ours = translate_port_arguments(ours, port)
        try:
            super().__init__(**ours)
        except ValueError as e:  # name the arguments the caller wrote, not only ours
            if not port:
                raise
            raise ValueError(f'{e} (translated from the RT-DETR/D-FINE arguments {port})') from e


HGNetV2.other_spellings.update(dict.fromkeys(PORT_ARGUMENTS, HGNetv2))
