"""Where this package registers its modules: mmengine's root ``MODELS`` registry.

mmpretrain's, mmdet's and mmseg's ``MODELS`` registries are children of the root, and a child looks a
plain ``type='HGNetV2'`` up in its ancestors when it lacks it, so one registration serves all three
codebases, and importing this package needs none of them.
"""
from mmengine.registry import MODELS

__all__ = ['MODELS']
