"""RT-DETR's hybrid encoder (Zhao et al., "DETRs Beat YOLOs on Real-time Object Detection", CVPR 2024,
section 4.2): attention-based intra-scale feature interaction (AIFI, a transformer encoder on the
coarsest map only) and the CNN-based cross-scale feature fusion (CCFM, a PAN of CSP blocks with
RepVGG-style convolutions)."""
import copy
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer
from mmdet.models.layers import DetrTransformerEncoder
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn


def sincos_position_embedding_2d(height: int, width: int, embed_dims: int, temperature: float,
                                 dtype: torch.dtype, device) -> Tensor:
    """RT-DETR's fixed sin-cos embedding of a ``height`` x ``width`` map, shape (1, h*w, embed_dims):
    a quarter of the channels each for sin(x), cos(x), sin(y), cos(y) at ``temperature``'s
    frequencies. As RT-DETR builds it (and transformers' port), token k is embedded at x = k // height,
    y = k % height: the grid is indexed (x, y) before flattening, which is the map's row-major order
    only on square maps. Kept so that RT-DETR's weights keep their meaning."""
    if embed_dims % 4:
        raise ValueError(f'embed_dims={embed_dims} must be divisible by 4 for the 2-D sin-cos '
                         'position embedding')
    pos_dims = embed_dims // 4
    omega = 1.0 / temperature**(torch.arange(pos_dims, device=device).to(dtype) / pos_dims)
    grid_x, grid_y = torch.meshgrid(torch.arange(width, device=device).to(dtype),
                                    torch.arange(height, device=device).to(dtype), indexing='ij')
    out_x = grid_x.flatten()[:, None] @ omega[None]
    out_y = grid_y.flatten()[:, None] @ omega[None]
    return torch.cat([out_x.sin(), out_x.cos(), out_y.sin(), out_y.cos()], 1)[None]


class RepVGGBlock(BaseModule):
    """``act(BN(conv3x3(x)) + BN(conv1x1(x)))``: RepVGG's training-time block without the identity
    branch, as RT-DETR's CSP blocks use it."""

    def __init__(self, channels: int, norm_cfg: ConfigType, act_cfg: ConfigType,
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.conv1 = ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None)
        self.conv2 = ConvModule(channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv1(x) + self.conv2(x))


class CSPRepLayer(BaseModule):
    """RT-DETR's fusion block: two 1x1 convs of the input, one through ``num_blocks``
    :class:`RepVGGBlock`, summed, then a 1x1 conv where the hidden width differs from the output's.

    Args:
        in_channels (int): Input channels (the two maps concatenated).
        out_channels (int): Output channels.
        num_blocks (int): RepVGG blocks. Defaults to 3.
        expansion (float): Hidden width over ``out_channels``. Defaults to 1.0.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation. Defaults to ``dict(type='SiLU')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int = 3,
                 expansion: float = 1.0, norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='SiLU'), init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        hidden = int(out_channels * expansion)
        self.conv1 = ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.bottlenecks = nn.Sequential(
            *[RepVGGBlock(hidden, norm_cfg, act_cfg) for _ in range(num_blocks)])
        self.conv3 = (ConvModule(hidden, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
                      if hidden != out_channels else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3(self.bottlenecks(self.conv1(x)) + self.conv2(x))


@MODELS.register_module()
class RTDETRHybridEncoder(BaseModule):
    """RT-DETR's neck: each backbone map projected to ``embed_dims`` (1x1 conv + BN), a transformer
    encoder (AIFI) over the maps of ``use_encoder_idx`` (the coarsest one in RT-DETR), a top-down then
    bottom-up fusion of all levels (CCFM), and each fused map projected to the decoder's width
    ``out_channels`` (1x1 conv + BN, the decoder's input projection).

    Args:
        in_channels (Sequence[int]): Channels of the backbone maps, finest first.
        embed_dims (int): Width of the encoder and of the fusion. Defaults to 256.
        out_channels (int): Width of the outputs (the decoder's). Defaults to 256.
        use_encoder_idx (Sequence[int]): Levels the transformer encoder runs on. Defaults to (2,).
        encoder (dict): :class:`mmdet.models.layers.DetrTransformerEncoder` config (``num_layers``,
            ``layer_cfg``): post-norm layers with self-attention and an FFN. Defaults to RT-DETR's:
            one layer, 8 heads, FFN 1024 with GELU, no dropout.
        pe_temperature (float): Temperature of the sin-cos position embedding. Defaults to 10000.
        expansion (float): Hidden width of the fusion blocks over ``embed_dims``. Defaults to 1.0.
        num_csp_blocks (int): RepVGG blocks in each fusion block. Defaults to 3.
        norm_cfg (dict): Norm layers of the convolutions. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation of the fusion convolutions. Defaults to ``dict(type='SiLU')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 embed_dims: int = 256,
                 out_channels: int = 256,
                 use_encoder_idx: Sequence[int] = (2, ),
                 encoder: ConfigType = dict(
                     num_layers=1,
                     layer_cfg=dict(
                         self_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.0),
                         ffn_cfg=dict(embed_dims=256, feedforward_channels=1024, ffn_drop=0.0,
                                      act_cfg=dict(type='GELU')))),
                 pe_temperature: float = 10000.,
                 expansion: float = 1.0,
                 num_csp_blocks: int = 3,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='SiLU'),
                 init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.embed_dims = embed_dims
        self.use_encoder_idx = list(use_encoder_idx)
        bad = [i for i in self.use_encoder_idx if not 0 <= i < len(self.in_channels)]
        if bad:
            raise ValueError(f'use_encoder_idx {self.use_encoder_idx} names levels {bad} outside the '
                             f'{len(self.in_channels)} input levels')
        self.pe_temperature = pe_temperature
        self.in_projs = nn.ModuleList(
            ConvModule(c, embed_dims, 1, norm_cfg=norm_cfg, act_cfg=None) for c in self.in_channels)
        self.aifi = nn.ModuleList(
            DetrTransformerEncoder(**copy.deepcopy(encoder)) for _ in self.use_encoder_idx)
        for layer in self.aifi:
            if layer.embed_dims != embed_dims:
                raise ValueError(f'encoder embed_dims {layer.embed_dims} differs from the '
                                 f'neck\'s embed_dims {embed_dims}')
        self.expansion = expansion
        self.num_csp_blocks = num_csp_blocks
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        num_fusions = len(self.in_channels) - 1
        self.lateral_convs = nn.ModuleList(self._build_lateral_conv() for _ in range(num_fusions))
        self.fpn_blocks = nn.ModuleList(self._build_fusion_block() for _ in range(num_fusions))
        self.downsample_convs = nn.ModuleList(
            self._build_downsample_conv() for _ in range(num_fusions))
        self.pan_blocks = nn.ModuleList(self._build_fusion_block() for _ in range(num_fusions))
        self.out_projs = nn.ModuleList(self._build_out_proj(out_channels) for _ in self.in_channels)

    # the CCFM's blocks, one method each so that a variant (D-FINE's) can change them
    def _build_lateral_conv(self) -> nn.Module:
        """The 1x1 conv of a coarser map before it is upsampled (top-down path)."""
        return ConvModule(self.embed_dims, self.embed_dims, 1, norm_cfg=self.norm_cfg,
                          act_cfg=self.act_cfg)

    def _build_fusion_block(self) -> nn.Module:
        """The block fusing two concatenated maps (2 * embed_dims channels) to embed_dims."""
        return CSPRepLayer(self.embed_dims * 2, self.embed_dims, self.num_csp_blocks,
                           self.expansion, self.norm_cfg, self.act_cfg)

    def _build_downsample_conv(self) -> nn.Module:
        """The stride-2 downsampling of a finer map (bottom-up path)."""
        return ConvModule(self.embed_dims, self.embed_dims, 3, stride=2, padding=1,
                          norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def _build_out_proj(self, out_channels: int) -> nn.Module:
        """The projection of a fused map to the decoder's width."""
        return ConvModule(self.embed_dims, out_channels, 1, norm_cfg=self.norm_cfg, act_cfg=None)

    def init_weights(self) -> None:
        super().init_weights()
        for p in self.aifi.parameters():  # as mmdet's DETRs initialise their transformer encoders
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{len(inputs)} input maps; in_channels names {len(self.in_channels)}')
        feats = [proj(x) for proj, x in zip(self.in_projs, inputs)]
        for idx, encoder in zip(self.use_encoder_idx, self.aifi):
            batch, channels, height, width = feats[idx].shape
            tokens = feats[idx].flatten(2).permute(0, 2, 1)
            pos = sincos_position_embedding_2d(height, width, self.embed_dims, self.pe_temperature,
                                               tokens.dtype, tokens.device)
            tokens = encoder(query=tokens, query_pos=pos, key_padding_mask=None)
            feats[idx] = tokens.permute(0, 2, 1).reshape(batch, channels, height, width)

        # top-down: each coarser map, laterally convolved, upsampled and fused with the finer one
        inner = [feats[-1]]
        for i, (lateral, block) in enumerate(zip(self.lateral_convs, self.fpn_blocks)):
            inner[-1] = lateral(inner[-1])
            upsampled = F.interpolate(inner[-1], scale_factor=2.0, mode='nearest')
            inner.append(block(torch.cat([upsampled, feats[-2 - i]], 1)))
        inner = inner[::-1]
        # bottom-up: each finer output, downsampled and fused with the next top-down map
        outs = [inner[0]]
        for i, (down, block) in enumerate(zip(self.downsample_convs, self.pan_blocks)):
            outs.append(block(torch.cat([down(outs[-1]), inner[i + 1]], 1)))
        return tuple(proj(x) for proj, x in zip(self.out_projs, outs))
