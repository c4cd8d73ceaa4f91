from .heads import HGNetV2ClsHead
from .hgnetv2 import HGNetV2, stage_channels

__all__ = ['HGNetV2', 'HGNetV2ClsHead', 'stage_channels']
