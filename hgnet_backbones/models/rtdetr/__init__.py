"""RT-DETR(v2) in mmdet, for HGNetV2 backbones: registered in mmdet's model registry when this package
is imported, which ``import hgnet_backbones`` does not do. Configs import it:

    custom_imports = dict(imports=['hgnet_backbones', 'hgnet_backbones.models.rtdetr'],
                          allow_failed_imports=False)

- :class:`RTDETR` (:mod:`.detector`): the detector, over mmdet's DINO;
- :class:`RTDETRHybridEncoder` (:mod:`.hybrid_encoder`): the neck (AIFI + CCFM);
- :class:`RTDETRTransformerDecoder` (:mod:`.decoder`): the decoder, mmdet's deformable DETR layers;
- :class:`RTDETRHead` (:mod:`.head`) and :class:`RTDETRVarifocalLoss` (:mod:`.loss`).

transformers' RT-DETRv2 weights are converted to this layout by
:mod:`hgnet_backbones.weights.convert.rtdetr` (``tools/convert_rtdetr.py``).
"""
from ...extras import needs_extra

with needs_extra('det'):
    from .decoder import RTDETRTransformerDecoder
    from .detector import RTDETR
    from .head import RTDETRHead
    from .hybrid_encoder import RTDETRHybridEncoder
    from .loss import RTDETRVarifocalLoss, rtdetr_varifocal_loss

__all__ = ['RTDETR', 'RTDETRHead', 'RTDETRHybridEncoder', 'RTDETRTransformerDecoder',
           'RTDETRVarifocalLoss', 'rtdetr_varifocal_loss']
