"""Where this package registers its modules and hooks: mmengine's root ``MODELS`` and ``HOOKS``
registries.

mmpretrain's, mmdet's and mmseg's registries are children of the root, and a child looks a
plain ``type='HGNetV2'`` up in its ancestors when it lacks it, so one registration serves all three
codebases, and importing this package needs none of them.
"""
from mmengine.registry import HOOKS, MODELS

__all__ = ['HOOKS', 'MODELS']
