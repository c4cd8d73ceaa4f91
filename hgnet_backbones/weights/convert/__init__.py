"""Checkpoint conversion, one home for every model family: pure functions from the layouts other
implementations write to this project's names.

- :mod:`.backbone`: the backbone (PaddleClas, timm, D-FINE, RT-DETR's PyTorch port, Hugging Face
  transformers, mmengine checkpoints of this project) and the checks that a state dict fits it;
- :mod:`.rtdetr`: transformers' RT-DETRv2 detectors in this package's mmdet RT-DETR layout;
- :mod:`.dfine`: transformers' D-FINE detectors (backbone included) in the mmdet D-FINE layout.
"""
from .backbone import (backbone_state_dict, check_backbone_state, check_finite, convert_state_dict,
                       detect_format, guess_arch, to_timm_state_dict, unwrap)
from .dfine import (convert_dfine_transformers, dfine_num_points,
                    model_settings_from_dfine_config)
from .rtdetr import convert_hf_rtdetr_v2, convert_hf_rtdetr_v2_file, model_settings_from_hf

__all__ = ['backbone_state_dict', 'check_backbone_state', 'check_finite',
           'convert_dfine_transformers', 'convert_hf_rtdetr_v2', 'convert_hf_rtdetr_v2_file',
           'convert_state_dict', 'detect_format', 'dfine_num_points', 'guess_arch',
           'model_settings_from_dfine_config', 'model_settings_from_hf', 'to_timm_state_dict',
           'unwrap']
