"""Checkpoint conversion, one home for every model family: pure functions from the layouts other
implementations write to this project's names.

- :mod:`.backbone`: the backbone (PaddleClas, timm, D-FINE, RT-DETR's PyTorch port, Hugging Face
  transformers, mmengine checkpoints of this project) and the checks that a state dict fits it;
- :mod:`.rtdetr`: transformers' RT-DETRv2 detectors in this package's mmdet RT-DETR layout;
- :mod:`.dfine`: transformers' D-FINE detectors (backbone included) in the mmdet D-FINE layout;
- :mod:`.detector`: published HGNetV2 detector checkpoints (D-FINE and DEIM releases, transformers'
  D-FINE, RT-DETR from PaddleDetection and lyuwenyu/RT-DETR) recognised and converted.
"""
from .backbone import (backbone_state_dict, check_backbone_state, check_finite, convert_state_dict,
                       detect_format, guess_arch, to_timm_state_dict, unwrap)
from .detector import (DETECTOR_VARIANTS, convert_detector, convert_detector_file,
                       detect_detector_layout)
from .dfine import (convert_dfine_transformers, dfine_num_points,
                    model_settings_from_dfine_config)
from .rtdetr import convert_hf_rtdetr_v2, convert_hf_rtdetr_v2_file, model_settings_from_hf

__all__ = ['DETECTOR_VARIANTS', 'backbone_state_dict', 'check_backbone_state', 'check_finite',
           'convert_detector', 'convert_detector_file', 'convert_dfine_transformers',
           'convert_hf_rtdetr_v2', 'convert_hf_rtdetr_v2_file', 'convert_state_dict',
           'detect_detector_layout', 'detect_format', 'dfine_num_points', 'guess_arch',
           'model_settings_from_dfine_config', 'model_settings_from_hf', 'to_timm_state_dict',
           'unwrap']
