"""D-FINE's decoder: deformable layers with a gated cross-attention residual, and Fine-grained
Distribution Refinement (FDR) of the boxes: each layer predicts, for each box edge, a distribution over
``reg_max + 1`` bins of a non-uniform weighting function, refining the previous layer's distribution
(Peng et al., "D-FINE: Redefine Regression Task in DETRs as Fine-grained Distribution Refinement",
ICLR 2025, section 3)."""
import copy
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.models.layers import MLP, DetrTransformerDecoderLayer, inverse_sigmoid
from mmdet.utils import ConfigType
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from .attention import MultiLevelPointsDeformableAttention

Number = Union[float, Tensor]


Number = Union[float, Tensor]


def weighting_function(reg_max: int, up: Number, reg_scale: Number) -> Tensor:
    """D-FINE's bin offsets W(n), n = 0..reg_max: 0 at the middle bin, ``(step ** k - 1)`` either side
    with ``step = (up * reg_scale + 1) ** (2 / (reg_max - 2))`` (reaching ``up * reg_scale`` next to
    the ends), and ``-+2 * up * reg_scale`` at the two ends; in units of the reference box's
    size / ``reg_scale``. A float ``up`` gives the default dtype; a tensor ``up`` keeps its dtype,
    device and gradient."""
    if reg_max < 4 or reg_max % 2:
        raise ValueError(f'reg_max must be an even number >= 4, got {reg_max}')
    up = torch.as_tensor(up, dtype=None if isinstance(up, Tensor) else torch.get_default_dtype())
    if up.numel() != 1:
        raise ValueError(f'up must be a number or a 1-element tensor, got shape {tuple(up.shape)}')
    bound = up.reshape(1).abs() * abs(reg_scale)
    step = (bound + 1) ** (2 / (reg_max - 2))
    # integer powers one by one, as D-FINE: a tensor of exponents rounds differently in float32
    right = torch.cat([step**k - 1 for k in range(1, reg_max // 2)])
    return torch.cat([-2 * bound, -right.flip(0), torch.zeros_like(bound), right, 2 * bound])


def distance_to_box(boxes: Tensor, distances: Tensor, reg_scale: Tensor) -> Tensor:
    """Boxes (cx, cy, w, h) whose left, top, right and bottom edges lie ``distances`` (..., 4) away
    from those of ``boxes`` at rest (half a size from the centre), in units of size / reg_scale."""
    reg_scale = abs(reg_scale)
    centre, size = boxes[..., :2], boxes[..., 2:]
    top_left = centre - (0.5 * reg_scale + distances[..., :2]) * size / reg_scale
    bottom_right = centre + (0.5 * reg_scale + distances[..., 2:]) * size / reg_scale
    return torch.cat([(top_left + bottom_right) / 2, bottom_right - top_left], -1)


class Gate(BaseModule):
    """D-FINE's gated residual: ``norm(g1 * x + g2 * y)`` with ``g1, g2 = sigmoid(linear([x, y]))``."""

    def __init__(self, embed_dims: int, norm_cfg: ConfigType = dict(type='LN')):
        super().__init__()
        self.gate = nn.Linear(2 * embed_dims, 2 * embed_dims)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def init_weights(self) -> None:
        """Both gates at one half."""
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        gate_x, gate_y = self.gate(torch.cat([x, y], -1)).sigmoid().chunk(2, -1)
        return self.norm(gate_x * x + gate_y * y)


class DFineTransformerDecoderLayer(DetrTransformerDecoderLayer):
    """A D-FINE decoder layer: self-attention (positions added to queries and keys) + LayerNorm
    (``norms.0``); :class:`MultiLevelPointsDeformableAttention` (``cross_attn``) from the queries with
    positions, its output joined to the input by a :class:`Gate` (``gateway``) instead of a residual
    and norm; FFN + LayerNorm (``norms.1``).

    Args:
        self_attn_cfg (dict): mmcv ``MultiheadAttention`` config.
        cross_attn_cfg (dict): :class:`MultiLevelPointsDeformableAttention` config.
        ffn_cfg (dict): mmcv ``FFN`` config.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='LN')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def _init_layers(self) -> None:
        self.self_attn = MultiheadAttention(**self.self_attn_cfg)
        cross_attn_cfg = {k: v for k, v in self.cross_attn_cfg.items() if k != 'batch_first'}
        self.cross_attn = MultiLevelPointsDeformableAttention(**cross_attn_cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.gateway = Gate(self.embed_dims, self.norm_cfg)
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = nn.ModuleList(
            build_norm_layer(self.norm_cfg, self.embed_dims)[1] for _ in range(2))

    def forward(self, query: Tensor, query_pos: Tensor, value: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor, self_attn_mask: Optional[Tensor] = None) -> Tensor:
        query = self.norms[0](self.self_attn(query=query, key=query, value=query, query_pos=query_pos,
                                             key_pos=query_pos, attn_mask=self_attn_mask))
        attended = self.cross_attn(query + query_pos, value, reference_points, spatial_shapes)
        query = self.gateway(query, attended)
        # D-FINE's clamp to float16's range before the last norm
        return self.norms[1](self.ffn(query).clamp(min=-65504, max=65504))


class DFineTransformerDecoder(BaseModule):
    """D-FINE's decoder with Fine-grained Distribution Refinement.

    Each layer ``i`` decodes the queries around the current boxes (their MLP embedding, clamped to
    [-10, 10], is the queries' position). After the first layer, ``pre_bbox_head`` refines the
    initial boxes once (inverse-sigmoid residual): these ``initial_references`` are what every
    layer's edge distances are measured from. The head's ``reg_branches[i]`` then maps the layer's
    output (plus the previous layer's output, detached) to ``4 * (reg_max + 1)`` logits, added to the
    previous layer's (``pred_corners``; layer-wise refinement); their softmax expectation over
    :func:`weighting_function` gives the edge distances and the layer's boxes
    (:func:`distance_to_box`), which the next layer sees detached.

    Layers after ``eval_idx`` are auxiliary (trained only, ``layer_scale`` times wider: their queries,
    positions and memory are widened by nearest interpolation, as D-FINE does); in inference the
    decoder stops after layer ``eval_idx``.

    Args:
        num_layers (int): Decoder layers.
        layer_cfg (dict): :class:`DFineTransformerDecoderLayer` config.
        reg_max (int): Bins per edge minus one. Defaults to 32.
        reg_scale (float): Curvature of the weighting function (stored as a buffer ``reg_scale``, as
            D-FINE's checkpoints carry it). Defaults to 4.
        up (float): Its upper bound (buffer ``up``). Defaults to 0.5.
        eval_idx (int): The layer whose predictions are the model's (negative counts from the
            end). Defaults to -1.
        layer_scale (float): Width of the layers after ``eval_idx`` over the others'. Defaults to 1.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, num_layers: int, layer_cfg: ConfigType, reg_max: int = 32,
                 reg_scale: float = 4.0, up: float = 0.5, eval_idx: int = -1,
                 layer_scale: float = 1, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not -num_layers <= eval_idx < num_layers:
            raise ValueError(f'eval_idx={eval_idx} is not a layer of the {num_layers}')
        if reg_max < 4 or reg_max % 2:
            raise ValueError(f'reg_max={reg_max}: the weighting function needs an even number >= 4')
        self.num_layers = num_layers
        self.eval_idx = eval_idx % num_layers
        self.reg_max = reg_max
        self.layer_scale = layer_scale
        # mmengine's ModuleList, so that init_weights reaches the layers' attentions and gates
        self.layers = ModuleList(
            DFineTransformerDecoderLayer(**copy.deepcopy(layer_cfg))
            for _ in range(self.eval_idx + 1))
        wide_cfg = self._widened(layer_cfg, layer_scale)
        self.layers.extend(DFineTransformerDecoderLayer(**copy.deepcopy(wide_cfg))
                           for _ in range(num_layers - self.eval_idx - 1))
        self.embed_dims = self.layers[0].embed_dims
        self.query_pos_head = MLP(4, 2 * self.embed_dims, self.embed_dims, 2)
        self.pre_bbox_head = MLP(self.embed_dims, self.embed_dims, 4, 3)
        self.register_buffer('reg_scale', torch.tensor([float(reg_scale)]))
        self.register_buffer('up', torch.tensor([float(up)]))

    @staticmethod
    def _widened(layer_cfg: ConfigType, layer_scale: float) -> dict:
        """``layer_cfg`` with every width times ``layer_scale`` (D-FINE's rounding)."""
        cfg = copy.deepcopy(dict(layer_cfg))
        if layer_scale == 1:
            return cfg
        for key in ('self_attn_cfg', 'cross_attn_cfg', 'ffn_cfg'):
            cfg[key] = dict(cfg[key], embed_dims=round(layer_scale * cfg[key]['embed_dims']))
        ffn = cfg['ffn_cfg']
        ffn['feedforward_channels'] = round(layer_scale * ffn['feedforward_channels'])
        return cfg

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.zeros_(self.pre_bbox_head.layers[-1].weight)
        nn.init.zeros_(self.pre_bbox_head.layers[-1].bias)

    def project(self) -> Tensor:
        """The weighting function's values, (reg_max + 1,)."""
        return weighting_function(self.reg_max, self.up, self.reg_scale)

    def forward(self, query: Tensor, value: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor, reg_branches: nn.ModuleList,
                self_attn_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Decode ``query`` (bs, num_queries, dims) from boxes ``reference_points`` (bs, num_queries,
        4; normalised cx, cy, w, h) over the flattened maps ``value`` (bs, sum(h*w), dims).

        Returns:
            dict: for each layer run (all in training, up to ``eval_idx`` in inference):
            ``hidden_states``, a list of (bs, num_queries, width) (a wide layer's are wider), and
            stacked on a first dimension ``references`` (the boxes), ``pred_corners`` (the
            edge-distribution logits, bs, num_queries, 4 * (reg_max + 1)) and
            ``initial_references`` (the boxes the distances are measured from); and
            ``pre_references``, the first layer's ``pre_bbox_head`` boxes (bs, num_queries, 4).
        """
        project = self.project().to(query.dtype)
        last = self.num_layers if self.training else self.eval_idx + 1
        boxes = reference_points
        output_detach = corners = 0
        outputs: Dict[str, List[Tensor]] = dict(hidden_states=[], references=[], pred_corners=[],
                                                initial_references=[])
        memory = value
        for i in range(last):
            query_pos = self.query_pos_head(boxes).clamp(min=-10, max=10)
            if i > self.eval_idx and self.layer_scale != 1:
                width = round(self.layer_scale * self.embed_dims)
                query_pos = F.interpolate(query_pos, size=width)
                value = F.interpolate(memory, size=width)
                if i == self.eval_idx + 1:
                    query = F.interpolate(query, size=width)
                    output_detach = query.detach()
            query = self.layers[i](query, query_pos, value, boxes, spatial_shapes,
                                   self_attn_mask)
            if i == 0:
                pre_references = (self.pre_bbox_head(query) + inverse_sigmoid(boxes)).sigmoid()
                initial = pre_references.detach()
            new_corners = reg_branches[i](query + output_detach) + corners
            distribution = new_corners.reshape(*new_corners.shape[:-1], 4, self.reg_max + 1)
            distances = distribution.softmax(-1) @ project
            new_boxes = distance_to_box(initial, distances, self.reg_scale)
            outputs['hidden_states'].append(query)
            outputs['references'].append(new_boxes)
            outputs['pred_corners'].append(new_corners)
            outputs['initial_references'].append(initial)
            corners = new_corners
            boxes = new_boxes.detach()
            output_detach = query.detach()
        stacked = {k: torch.stack(v) for k, v in outputs.items() if k != 'hidden_states'}
        return dict(stacked, hidden_states=outputs['hidden_states'], pre_references=pre_references)
