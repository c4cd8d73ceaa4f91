"""RT-DETR's transformer decoder over mmdet's deformable DETR decoder layers."""
from typing import Tuple

import torch
from mmdet.models.layers import DeformableDetrTransformerDecoder, MLP, inverse_sigmoid
from torch import Tensor, nn


class RTDETRTransformerDecoder(DeformableDetrTransformerDecoder):
    """The decoder of RT-DETR(v2): mmdet's :class:`DeformableDetrTransformerDecoderLayer` layers
    (self-attention, mmcv's ``MultiScaleDeformableAttention`` over the encoder's maps with box
    reference points, FFN, each followed by LayerNorm), with RT-DETR's query positions: an MLP
    (4 -> 2 * embed_dims -> embed_dims) of each query's current box. Each layer refines the boxes with
    the head's ``reg_branches`` (the next layer sees them detached) and no norm follows the last
    layer.

    Args:
        num_layers (int): Decoder layers.
        layer_cfg (dict): :class:`DeformableDetrTransformerDecoderLayer` config.
        post_norm_cfg (dict, optional): Must stay None, as in RT-DETR. Defaults to None.
        return_intermediate (bool): Must stay True: the head predicts after every layer.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, *args, post_norm_cfg=None, **kwargs):
        super().__init__(*args, post_norm_cfg=post_norm_cfg, **kwargs)
        if not self.return_intermediate:
            raise ValueError('RTDETRTransformerDecoder needs return_intermediate=True: the head '
                             'predicts boxes after every layer')

    def _init_layers(self) -> None:
        super()._init_layers()
        self.query_pos_head = MLP(4, 2 * self.embed_dims, self.embed_dims, 2)

    def forward(self, query: Tensor, value: Tensor, key_padding_mask: Tensor,
                self_attn_mask: Tensor, reference_points: Tensor, spatial_shapes: Tensor,
                level_start_index: Tensor, valid_ratios: Tensor, reg_branches: nn.ModuleList,
                **kwargs) -> Tuple[Tensor, Tensor]:
        """Decode ``query`` (bs, num_queries, dims) from boxes ``reference_points`` (bs, num_queries,
        4; normalised cx, cy, w, h) over the flattened maps ``value``.

        Returns:
            tuple: the hidden states after each layer (num_layers, bs, num_queries, dims) and the
            boxes before the first and after each layer (num_layers + 1, bs, num_queries, 4); those
            after a layer carry gradients to it, as the head predicts from them.
        """
        hidden_states, references = [], [reference_points]
        for layer, reg_branch in zip(self.layers, reg_branches):
            query = layer(
                query,
                query_pos=self.query_pos_head(reference_points),
                value=value,
                key_padding_mask=key_padding_mask,
                self_attn_mask=self_attn_mask,
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                reference_points=reference_points[:, :, None],  # the same box on every level
                **kwargs)
            new_reference_points = (reg_branch(query) + inverse_sigmoid(reference_points)).sigmoid()
            reference_points = new_reference_points.detach()
            hidden_states.append(query)
            references.append(new_reference_points)
        return torch.stack(hidden_states), torch.stack(references)
