"""The RT-DETR detector in mmdet: backbone, hybrid encoder (the neck), IoU-aware query selection and
the deformable decoder."""
import math
from typing import Dict, Optional, Tuple

import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.detectors import DINO, DeformableDETR
from mmdet.models.layers import CdnQueryGenerator
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import OptConfigType
from torch import Tensor, nn

from .decoder import RTDETRTransformerDecoder

# RT-DETR's anchors: a box of side 0.05 * 2**level at every map cell; only those within
# [ANCHOR_EPS, 1 - ANCHOR_EPS] are valid, the others are never proposed.
ANCHOR_SIZE = 0.05
ANCHOR_EPS = 0.01


def in_input_frame(batch_data_samples: SampleList) -> SampleList:
    """Shallow copies of the samples with ``img_shape`` set to ``batch_input_shape``: what RT-DETR's
    normalised boxes are relative to, since it has no padding mask."""
    return [sample.new(metainfo=dict(sample.metainfo, img_shape=sample.batch_input_shape))
            for sample in batch_data_samples]


@MODELS.register_module()
class RTDETR(DINO):
    """RT-DETR(v2) (Zhao et al., "DETRs Beat YOLOs on Real-time Object Detection", CVPR 2024; Lv et
    al., "RT-DETRv2: Improved Baseline with Bag-of-Freebies for Real-Time Detection Transformer",
    2024) over mmdet's DINO:

    - the neck is :class:`RTDETRHybridEncoder` (AIFI + CCFM); there is no deformable encoder and no
      padding mask: boxes are relative to the padded batch input;
    - IoU-aware query selection: anchors at every cell of the neck's maps (invalid ones near the
      border masked, with their memory), the memory through a linear layer and LayerNorm, the encoder's
      class and box branches of the head, and the ``num_queries`` tokens of highest class score become
      the decoder's content queries (detached) and initial boxes;
    - :class:`RTDETRTransformerDecoder` decodes them; mmdet's ``CdnQueryGenerator`` adds contrastive
      denoising queries in training (``dn_cfg``; None turns denoising off). Its noisy boxes go through
      an inverse sigmoid clamped at 1e-3 (RT-DETR's: 1e-5).

    Inference matches transformers' ``RTDetrV2ForObjectDetection`` (decoder method 'default', equal
    points per level) given the same backbone maps, once its weights pass through
    :func:`hgnet_backbones.weights.convert.convert_hf_rtdetr_v2`.

    Args:
        backbone, neck, decoder, bbox_head, num_queries, train_cfg, test_cfg, data_preprocessor,
            init_cfg: as for :class:`mmdet.models.DINO`; ``neck`` an :class:`RTDETRHybridEncoder`,
            ``decoder`` an :class:`RTDETRTransformerDecoder`, ``bbox_head`` an :class:`RTDETRHead`.
        num_feature_levels (int): Levels the decoder attends to (the neck's outputs).
        dn_cfg (dict, optional): ``CdnQueryGenerator`` config without ``num_classes``,
            ``embed_dims`` and ``num_matching_queries`` (set from the model). Defaults to None: no
            denoising.
    """

    def __init__(self, *args, dn_cfg: OptConfigType = None, **kwargs) -> None:
        # DINO's own __init__ requires denoising; its parent sets up the box refinement and the
        # encoder's (two-stage) prediction branches
        DeformableDETR.__init__(self, *args, with_box_refine=True, as_two_stage=True, **kwargs)
        self.dn_query_generator = None
        if dn_cfg is not None:
            given = sorted({'num_classes', 'embed_dims', 'num_matching_queries'} & set(dn_cfg))
            if given:
                raise ValueError(f'dn_cfg sets {given}: they are taken from the model')
            self.dn_query_generator = CdnQueryGenerator(
                **dn_cfg, num_classes=self.bbox_head.num_classes, embed_dims=self.embed_dims,
                num_matching_queries=self.num_queries)

    def _init_layers(self) -> None:
        if self.encoder is not None or self.positional_encoding is not None:
            raise ValueError("RT-DETR's encoder is its neck (RTDETRHybridEncoder): encoder and "
                             'positional_encoding must be None')
        self.decoder = RTDETRTransformerDecoder(**self.decoder)
        self.embed_dims = self.decoder.embed_dims
        # the encoder output's projection before query selection (RT-DETR's enc_output)
        self.memory_trans_fc = nn.Linear(self.embed_dims, self.embed_dims)
        self.memory_trans_norm = nn.LayerNorm(self.embed_dims)

    def init_weights(self) -> None:
        super(DeformableDETR, self).init_weights()
        for p in self.decoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.init_weights()
        nn.init.xavier_uniform_(self.memory_trans_fc.weight)

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict:
        return super().loss(batch_inputs, in_input_frame(batch_data_samples))

    def pre_transformer(self, mlvl_feats: Tuple[Tensor],
                        batch_data_samples: OptSampleList = None) -> Tuple[Dict, Dict]:
        """Flatten the neck's maps into one sequence (bs, sum(h*w), dims); no masks."""
        spatial_shapes = torch.stack([torch._shape_as_tensor(f)[2:].to(f.device) for f in mlvl_feats])
        feat = torch.cat([f.flatten(2).transpose(1, 2) for f in mlvl_feats], 1)
        level_start_index = torch.cat(
            (spatial_shapes.new_zeros((1, )), spatial_shapes.prod(1).cumsum(0)[:-1]))
        valid_ratios = feat.new_ones(feat.size(0), len(mlvl_feats), 2)
        encoder_inputs_dict = dict(feat=feat, spatial_shapes=spatial_shapes)
        decoder_inputs_dict = dict(memory_mask=None, spatial_shapes=spatial_shapes,
                                   level_start_index=level_start_index, valid_ratios=valid_ratios)
        return encoder_inputs_dict, decoder_inputs_dict

    def forward_encoder(self, feat: Tensor, spatial_shapes: Tensor) -> Dict:
        """The hybrid encoder ran as the neck: its flattened maps are the memory."""
        return dict(memory=feat, memory_mask=None, spatial_shapes=spatial_shapes)

    def gen_encoder_output_proposals(self, memory: Tensor, memory_mask: Optional[Tensor],
                                     spatial_shapes: Tensor) -> Tuple[Tensor, Tensor]:
        """RT-DETR's anchors (inverse-sigmoid cx, cy, w, h; +inf where invalid), shape (1, N, 4),
        and the memory through ``memory_trans_fc`` and ``memory_trans_norm``, zeroed before them at
        invalid anchors. Computed in the memory's dtype (mmdet's DeformableDETR builds its grid in
        float32)."""
        anchors = []
        for level, (height, width) in enumerate(spatial_shapes):
            grid_y, grid_x = torch.meshgrid(
                torch.arange(height, device=memory.device).to(memory.dtype),
                torch.arange(width, device=memory.device).to(memory.dtype), indexing='ij')
            size = torch.stack([width, height]).to(memory.dtype)
            centers = (torch.stack([grid_x, grid_y], -1) + 0.5) / size
            sizes = torch.ones_like(centers) * (ANCHOR_SIZE * 2.0**level)
            anchors.append(torch.cat([centers, sizes], -1).flatten(0, 1))
        anchors = torch.cat(anchors)[None]
        # a sum, not all(): ONNX has no boolean reduction
        valid = ((anchors > ANCHOR_EPS) & (anchors < 1 - ANCHOR_EPS)).sum(-1, keepdim=True) == 4
        anchors = torch.log(anchors / (1 - anchors)).masked_fill(~valid, math.inf)
        output_memory = self.memory_trans_norm(self.memory_trans_fc(memory.masked_fill(~valid, 0.0)))
        return output_memory, anchors

    def pre_decoder(self, memory: Tensor, memory_mask: Optional[Tensor], spatial_shapes: Tensor,
                    batch_data_samples: OptSampleList = None) -> Tuple[Dict, Dict]:
        """IoU-aware query selection: the ``num_queries`` tokens of highest class score (by the head's
        encoder branches) give the decoder's content queries (detached) and initial boxes; in
        training, denoising queries go before them and the selected scores and boxes to the loss."""
        level = self.decoder.num_layers  # the head's encoder branches come after the decoder's
        output_memory, anchors = self.gen_encoder_output_proposals(memory, memory_mask,
                                                                   spatial_shapes)
        enc_outputs_class = self.bbox_head.cls_branches[level](output_memory)
        enc_outputs_coord_unact = self.bbox_head.reg_branches[level](output_memory) + anchors
        if output_memory.size(1) < self.num_queries:
            raise ValueError(f'the neck gives {output_memory.size(1)} tokens, fewer than num_queries='
                             f'{self.num_queries}: feed larger images or select fewer queries')
        topk_indices = torch.topk(enc_outputs_class.max(-1)[0], k=self.num_queries, dim=1)[1]

        def gather(x):
            return torch.gather(x, 1, topk_indices.unsqueeze(-1).repeat(1, 1, x.size(-1)))

        topk_score = gather(enc_outputs_class)
        topk_coords_unact = gather(enc_outputs_coord_unact)
        query = gather(output_memory).detach()
        reference_points = topk_coords_unact.detach()
        dn_mask = dn_meta = None
        if self.training and self.dn_query_generator is not None:
            dn_label_query, dn_bbox_query, dn_mask, dn_meta = \
                self.dn_query_generator(batch_data_samples)
            query = torch.cat([dn_label_query, query], 1)
            reference_points = torch.cat([dn_bbox_query, reference_points], 1)
        decoder_inputs_dict = dict(query=query, memory=memory,
                                   reference_points=reference_points.sigmoid(), dn_mask=dn_mask)
        head_inputs_dict = dict(enc_outputs_class=topk_score,
                                enc_outputs_coord=topk_coords_unact.sigmoid(),
                                dn_meta=dn_meta) if self.training else dict()
        return decoder_inputs_dict, head_inputs_dict

    def forward_decoder(self, query: Tensor, memory: Tensor, memory_mask: Optional[Tensor],
                        reference_points: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                        valid_ratios: Tensor, dn_mask: Optional[Tensor] = None) -> Dict:
        hidden_states, references = self.decoder(
            query=query, value=memory, key_padding_mask=memory_mask, self_attn_mask=dn_mask,
            reference_points=reference_points, spatial_shapes=spatial_shapes,
            level_start_index=level_start_index, valid_ratios=valid_ratios,
            reg_branches=self.bbox_head.reg_branches)
        return dict(hidden_states=hidden_states, references=list(references))
