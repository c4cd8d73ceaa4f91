"""D-FINE in mmdet, for HGNetV2 backbones, built on :mod:`hgnet_backbones.models.rtdetr`: registered
in mmdet's model registry when this package is imported, which ``import hgnet_backbones`` does not
do. Configs import it:

    custom_imports = dict(imports=['hgnet_backbones', 'hgnet_backbones.models.dfine'],
                          allow_failed_imports=False)

- :class:`DFINE` (:mod:`.detector`): the detector, over :class:`RTDETR`;
- :class:`DFineHybridEncoder` (:mod:`.hybrid_encoder`): the neck (AIFI + CCFM of GELAN blocks);
- :class:`DFineTransformerDecoder` (:mod:`.decoder`): the decoder with Fine-grained Distribution
  Refinement, over :class:`MultiLevelPointsDeformableAttention` (:mod:`.attention`);
- :class:`DFineHead` (:mod:`.head`): class logits with the LQE, and the training losses over mmdet's
  DINO head's matching: VFL (or DEIM's :class:`MatchabilityAwareLoss`), L1, GIoU and the GO-LSD
  losses (:class:`FineGrainedLocalizationLoss`, :class:`DecoupledDistillationFocalLoss`, in
  :mod:`.losses`) for every decoder layer, the encoder's queries and the denoising queries.

transformers' D-FINE weights are converted to this layout by
:mod:`hgnet_backbones.weights.convert.dfine`.
"""
from ...extras import needs_extra

with needs_extra('det'):
    from .attention import MultiLevelPointsDeformableAttention
    from .decoder import (DFineTransformerDecoder, DFineTransformerDecoderLayer, distance_to_box,
                          weighting_function)
    from .detector import DFINE
    from .head import DFineHead, LocalizationQualityEstimator
    from .hybrid_encoder import DFineHybridEncoder, RepNCSPELAN4, SCDown
    from .losses import (DecoupledDistillationFocalLoss, FineGrainedLocalizationLoss,
                         MatchabilityAwareLoss)

__all__ = ['DFINE', 'DFineHead', 'DFineHybridEncoder', 'DFineTransformerDecoder',
           'DFineTransformerDecoderLayer', 'DecoupledDistillationFocalLoss',
           'FineGrainedLocalizationLoss', 'LocalizationQualityEstimator', 'MatchabilityAwareLoss',
           'MultiLevelPointsDeformableAttention', 'RepNCSPELAN4', 'SCDown', 'distance_to_box',
           'weighting_function']
