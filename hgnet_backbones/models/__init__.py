"""The backbone (:mod:`.hgnetv2`) and, for mmpretrain, PaddleClas's classification head
(:mod:`.heads`, registered once mmpretrain is imported: see :mod:`hgnet_backbones.registry`)."""
from .hgnetv2 import HGNetV2, stage_channels

__all__ = ['HGNetV2', 'stage_channels']
