"""PaddleClas's PP-HGNetV2 (B0-B6) as an exact OpenMMLab backbone for mmpretrain, mmdet and mmseg.

``import hgnet_backbones`` (or ``custom_imports=dict(imports=['hgnet_backbones'])`` in a config) needs
only torch, mmengine and mmcv (or mmcv-lite). It registers ``HGNetV2`` and this package's hooks for
all three codebases, lets ``load_from`` / ``init_cfg`` take PaddleClas ``.pdparams`` files, their URLs
and ``paddleclas://B4/ssld_stage1`` names, and, once mmpretrain is imported, registers the
classification head and the converted weights' names there. It changes nothing else in any other
library; the opt-ins that do are named: :func:`use_safe_checkpoint_loading`. Every adaptation to
another library's version is listed in :mod:`hgnet_backbones.compat`.
"""
from .compat.mmpretrain import register_with_mmpretrain
from .hooks import SafeCheckpointHook, ValidateBeforeTrainingHook
from .models import HGNetV2, stage_channels
from .version import __version__
from .weights import (CheckpointError, convert_checkpoint_file, convert_state_dict,
                      load_pretrained_backbone, read_checkpoint, read_pdparams,
                      register_checkpoint_loaders, use_safe_checkpoint_loading)

register_checkpoint_loaders()
register_with_mmpretrain()

__all__ = ['CheckpointError', 'HGNetV2', 'SafeCheckpointHook', 'ValidateBeforeTrainingHook',
           'convert_checkpoint_file', 'convert_state_dict', 'load_pretrained_backbone',
           'read_checkpoint', 'read_pdparams', 'stage_channels', 'use_safe_checkpoint_loading',
           '__version__']
