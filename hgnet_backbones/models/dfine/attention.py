"""D-FINE's multi-scale deformable attention: a number of sampling points per level, no value or
output projection. mmcv's ``MultiScaleDeformableAttention`` takes one number of points for every
level and projects the values and the output, so it cannot hold D-FINE's weights."""
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn


class MultiLevelPointsDeformableAttention(BaseModule):
    """Each query samples ``num_points[l]`` points on level ``l`` around its box's centre, at offsets
    scaled by the box's size, ``offset_scale`` and ``1 / num_points[l]``; one softmax runs over a
    head's points of every level. The sampled memory (split in heads, not projected) is summed with
    those weights (bilinear ``grid_sample``, zero outside the map).

    Args:
        embed_dims (int): Width of the queries and of the memory. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        num_points (Sequence[int]): Sampling points on each level. Defaults to (3, 6, 3).
        offset_scale (float): Scale of the offsets relative to the box. Defaults to 0.5.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, embed_dims: int = 256, num_heads: int = 8,
                 num_points: Sequence[int] = (3, 6, 3), offset_scale: float = 0.5,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by num_heads={num_heads}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.num_points = list(num_points)
        self.offset_scale = offset_scale
        total = sum(self.num_points)
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * total * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * total)
        # each point's 1 / (points of its level)
        self.register_buffer('points_scale', torch.tensor(
            [1 / n for n in self.num_points for _ in range(n)]), persistent=False)

    def init_weights(self) -> None:
        """D-FINE's: zero weights; offsets' biases point each head in its own direction, at
        1, 2, ... times the unit step for a level's successive points; uniform attention."""
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True).values
        steps = torch.cat([torch.arange(1, n + 1) for n in self.num_points]).to(grid)
        bias = grid[:, None, :] * steps[None, :, None]
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(bias.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)

    def forward(self, query: Tensor, value: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor) -> Tensor:
        """Attend from ``query`` (bs, num_queries, dims) to the flattened maps ``value`` (bs,
        sum(h*w), dims) of ``spatial_shapes`` (levels, 2: h, w) around ``reference_points`` (bs,
        num_queries, 4: normalised cx, cy, w, h); returns (bs, num_queries, dims)."""
        batch, num_queries, _ = query.shape
        heads, head_dims, total = self.num_heads, self.embed_dims // self.num_heads, \
            sum(self.num_points)
        offsets = self.sampling_offsets(query).reshape(batch, num_queries, heads, total, 2)
        weights = self.attention_weights(query).reshape(batch, num_queries, heads, total).softmax(-1)
        boxes = reference_points[:, :, None, None]
        scale = self.points_scale.to(query.dtype)[:, None]
        locations = boxes[..., :2] + offsets * scale * boxes[..., 2:] * self.offset_scale
        # (bs * heads, num_queries, points, 2), (bs * heads, head_dims, sum(h * w))
        locations = locations.permute(0, 2, 1, 3, 4).flatten(0, 1)
        maps = value.reshape(batch, -1, heads, head_dims).permute(0, 2, 3, 1).flatten(0, 1)
        sampled = sample_levels(maps, spatial_shapes, locations, self.num_points)
        weights = weights.permute(0, 2, 1, 3).reshape(batch * heads, 1, num_queries, total)
        out = (sampled * weights).sum(-1)  # (bs * heads, head_dims, num_queries)
        return out.reshape(batch, heads * head_dims, num_queries).transpose(1, 2)


def sample_levels(maps: Tensor, spatial_shapes: Tensor, locations: Tensor,
                  num_points: Sequence[int]) -> Tensor:
    """Bilinear samples (``grid_sample``, zero outside the map, ``align_corners=False``) of the
    flattened maps ``maps`` (n, dims, sum(h*w)) of ``spatial_shapes`` (levels, 2: h, w) at
    ``locations`` (n, num_queries, sum(num_points), 2: normalised x, y), the first ``num_points[0]``
    on level 0 and so on; returns (n, dims, num_queries, sum(num_points)). Export rewrites it
    (:func:`hgnet_backbones.compat.mmdeploy.sample_levels__gather`)."""
    sizes = [int(h) * int(w) for h, w in spatial_shapes]
    grids = (2 * locations - 1).split(list(num_points), -2)  # grid_sample's [-1, 1] frame
    sampled = [
        F.grid_sample(m.unflatten(-1, (int(h), int(w))), grid, mode='bilinear',
                      padding_mode='zeros', align_corners=False)
        for m, grid, (h, w) in zip(maps.split(sizes, -1), grids, spatial_shapes)
    ]
    return torch.cat(sampled, -1)
