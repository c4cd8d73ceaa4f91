"""PaddleClas's PP-HGNetV2 (B0-B6) as an exact OpenMMLab backbone for mmpretrain, mmdet and mmseg.

``custom_imports=dict(imports=['hgnet_backbones'])`` in a config registers ``HGNetV2`` and
``HGNetV2ClsHead`` for all three codebases and lets ``load_from`` / ``init_cfg`` take PaddleClas
``.pdparams`` files, their URLs and ``paddleclas://B4/ssld_stage1`` names.
"""
from . import compat  # noqa: F401  (mmengine on torch >= 2.6 and NumPy 2; see compat.py)
from .checkpoint import (convert_state_dict, load_pretrained_backbone, read_pdparams,
                         register_checkpoint_loaders)
from .hooks import ValidateBeforeTrainingHook
from .models import HGNetV2, HGNetV2ClsHead, stage_channels
from .version import __version__

register_checkpoint_loaders()

__all__ = ['HGNetV2', 'HGNetV2ClsHead', 'convert_state_dict', 'load_pretrained_backbone',
           'read_pdparams', 'stage_channels', 'ValidateBeforeTrainingHook', '__version__']
