"""RT-DETR(v2) in mmdet, for HGNetV2 backbones: registered in mmdet's model registry when this package
is imported, which ``import hgnet_backbones`` does not do. Configs import it:

    custom_imports = dict(imports=['hgnet_backbones', 'hgnet_backbones.models.rtdetr'],
                          allow_failed_imports=False)

- :class:`RTDETR` (:mod:`.detector`): the detector, over mmdet's DINO;
- :class:`RTDETRHybridEncoder` (:mod:`.hybrid_encoder`): the neck (AIFI + CCFM);
- :class:`RTDETRTransformerDecoder` (:mod:`.decoder`): the decoder, mmdet's deformable DETR layers;
- :class:`RTDETRHead` (:mod:`.head`) and :class:`RTDETRVarifocalLoss` (:mod:`.loss`);
- :func:`convert_hf_rtdetr_v2` and :func:`convert_hf_rtdetr_v2_file` (:mod:`.convert`): transformers'
  RT-DETRv2 weights in this layout (``tools/convert_rtdetr.py``).
"""
from .convert import convert_hf_rtdetr_v2, convert_hf_rtdetr_v2_file, model_settings_from_hf
from .decoder import RTDETRTransformerDecoder
from .detector import RTDETR
from .head import RTDETRHead
from .hybrid_encoder import RTDETRHybridEncoder
from .loss import RTDETRVarifocalLoss, rtdetr_varifocal_loss

__all__ = ['RTDETR', 'RTDETRHead', 'RTDETRHybridEncoder', 'RTDETRTransformerDecoder',
           'RTDETRVarifocalLoss', 'convert_hf_rtdetr_v2', 'convert_hf_rtdetr_v2_file',
           'model_settings_from_hf',
           'rtdetr_varifocal_loss']
