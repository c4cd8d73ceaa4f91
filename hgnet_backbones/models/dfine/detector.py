"""The D-FINE detector in mmdet: RT-DETR's with D-FINE's neck, decoder and head."""
from typing import Dict, Optional

from mmdet.models.detectors import DeformableDETR
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import Tensor, nn

from ..rtdetr.detector import RTDETR
from .decoder import DFineTransformerDecoder

# the decoder's settings the head needs too; the detector gives them to it
SHARED_WITH_HEAD = {'reg_max': 32, 'reg_scale': 4.0, 'up': 0.5, 'eval_idx': -1, 'layer_scale': 1}


@MODELS.register_module()
class DFINE(RTDETR):
    """D-FINE (Peng et al., "D-FINE: Redefine Regression Task in DETRs as Fine-grained Distribution
    Refinement", ICLR 2025) over :class:`RTDETR`: the same backbone, IoU-aware query selection and
    denoising queries, with

    - :class:`DFineHybridEncoder` as the neck (GELAN fusion blocks, SCDown downsampling);
    - :class:`DFineTransformerDecoder`: gated deformable layers with a number of sampling points per
      level, boxes by Fine-grained Distribution Refinement, inference stopping at ``eval_idx``;
    - :class:`DFineHead`: LQE-corrected logits, and D-FINE's losses (VFL or MAL, L1, GIoU, GO-LSD).

    Inference matches transformers' ``DFineForObjectDetection`` once its weights pass through
    :func:`hgnet_backbones.weights.convert.convert_dfine_transformers`.

    Args:
        decoder (dict): :class:`DFineTransformerDecoder` config; its ``reg_max``, ``reg_scale``,
            ``up``, ``eval_idx`` and ``layer_scale`` are also the head's.
        bbox_head (dict): :class:`DFineHead` config without those five.
        Others: as :class:`RTDETR`.
    """

    def __init__(self, *args, decoder: ConfigType, bbox_head: ConfigType, **kwargs) -> None:
        given = sorted(set(SHARED_WITH_HEAD) & set(bbox_head))
        if given:
            raise ValueError(f'bbox_head sets {given}: the head takes them from the decoder')
        bbox_head = dict(bbox_head, **{k: decoder.get(k, v) for k, v in SHARED_WITH_HEAD.items()})
        super().__init__(*args, decoder=decoder, bbox_head=bbox_head, **kwargs)

    def _init_layers(self) -> None:
        if self.encoder is not None or self.positional_encoding is not None:
            raise ValueError("D-FINE's encoder is its neck (DFineHybridEncoder): encoder and "
                             'positional_encoding must be None')
        self.decoder = DFineTransformerDecoder(**self.decoder)
        self.embed_dims = self.decoder.embed_dims
        self.memory_trans_fc = nn.Linear(self.embed_dims, self.embed_dims)
        self.memory_trans_norm = nn.LayerNorm(self.embed_dims)

    def init_weights(self) -> None:
        # each module's own init_weights: the attentions', gates', decoder's and head's
        super(DeformableDETR, self).init_weights()
        for layer in self.decoder.layers:  # D-FINE initialises its FFNs so
            for p in layer.ffn.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        nn.init.xavier_uniform_(self.memory_trans_fc.weight)

    def forward_decoder(self, query: Tensor, memory: Tensor, memory_mask: Optional[Tensor],
                        reference_points: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                        valid_ratios: Tensor, dn_mask: Optional[Tensor] = None) -> Dict:
        """The decoder's outputs (:meth:`DFineTransformerDecoder.forward`), for the head."""
        return self.decoder(query=query, value=memory, reference_points=reference_points,
                            spatial_shapes=spatial_shapes, reg_branches=self.bbox_head.reg_branches,
                            self_attn_mask=dn_mask)
