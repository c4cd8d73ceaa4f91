"""The backbone (:mod:`.hgnetv2`; its CPU speed paths in :mod:`.fast_paths`), its spelling in RT-DETR
and D-FINE configs (:mod:`.ports`) and, for mmpretrain, PaddleClas's classification head
(:mod:`.heads`, registered once mmpretrain is imported: see :mod:`hgnet_backbones.compat.mmpretrain`)."""
from .hgnetv2 import HGNetV2, stage_channels
from .ports import HGNetv2

__all__ = ['HGNetV2', 'HGNetv2', 'stage_channels']
