"""Where this package's modules and hooks register: mmengine's root ``MODELS`` and ``HOOKS``
registries. mmpretrain's, mmdet's and mmseg's registries are children of the root, and a child looks
a plain ``type='HGNetV2'`` up in its ancestors when it lacks it, so one registration serves all three
codebases, and importing this package needs none of them. (mmpretrain's own head and model index are
registered once mmpretrain is imported: :mod:`hgnet_backbones.compat.mmpretrain`.)"""
from mmengine.registry import HOOKS, MODELS

__all__ = ['HOOKS', 'MODELS']
