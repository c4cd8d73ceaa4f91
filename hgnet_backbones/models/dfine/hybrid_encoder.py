"""D-FINE's hybrid encoder: RT-DETR's (AIFI + CCFM) with GELAN fusion blocks (RepNCSPELAN4, from
YOLOv9) and SCDown downsampling (from YOLOv10) in its CCFM (Peng et al., "D-FINE: Redefine Regression
Task in DETRs as Fine-grained Distribution Refinement", ICLR 2025)."""
import torch
from mmcv.cnn import ConvModule
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..rtdetr.hybrid_encoder import CSPRepLayer, RTDETRHybridEncoder


class RepNCSPELAN4(BaseModule):
    """GELAN's fusion block as D-FINE uses it: a 1x1 conv to ``2 * out_channels`` split in halves;
    the second half through a CSP block of RepVGG convolutions and a 3x3 conv, twice in a chain; the
    two halves and both chain outputs concatenated and fused by a 1x1 conv.

    Args:
        in_channels (int): Input channels (the two maps concatenated).
        out_channels (int): Output channels.
        hidden_channels (int): Width of the two CSP branches.
        num_blocks (int): RepVGG blocks in each CSP block. Defaults to 3.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation. Defaults to ``dict(type='SiLU')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int,
                 num_blocks: int = 3, norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='SiLU'), init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.split_channels = out_channels
        self.conv1 = ConvModule(in_channels, 2 * out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.csp_rep1 = CSPRepLayer(out_channels, hidden_channels, num_blocks, 1.0, norm_cfg, act_cfg)
        self.conv2 = ConvModule(hidden_channels, hidden_channels, 3, padding=1, norm_cfg=norm_cfg,
                                act_cfg=act_cfg)
        self.csp_rep2 = CSPRepLayer(hidden_channels, hidden_channels, num_blocks, 1.0, norm_cfg,
                                    act_cfg)
        self.conv3 = ConvModule(hidden_channels, hidden_channels, 3, padding=1, norm_cfg=norm_cfg,
                                act_cfg=act_cfg)
        self.conv4 = ConvModule(2 * out_channels + 2 * hidden_channels, out_channels, 1,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        parts = list(self.conv1(x).split(self.split_channels, 1))
        parts.append(self.conv2(self.csp_rep1(parts[-1])))
        parts.append(self.conv3(self.csp_rep2(parts[-1])))
        return self.conv4(torch.cat(parts, 1))


class SCDown(BaseModule):
    """YOLOv10's spatial-channel decoupled downsampling: a 1x1 conv, then a depthwise strided conv,
    each with BN and no activation.

    Args:
        channels (int): Input and output channels.
        kernel_size (int): Kernel of the depthwise conv. Defaults to 3.
        stride (int): Its stride. Defaults to 2.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='BN')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, channels: int, kernel_size: int = 3, stride: int = 2,
                 norm_cfg: ConfigType = dict(type='BN'), init_cfg: OptMultiConfig = None):
        super().__init__(init_cfg=init_cfg)
        self.conv1 = ConvModule(channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.conv2 = ConvModule(channels, channels, kernel_size, stride=stride,
                                padding=(kernel_size - 1) // 2, groups=channels, norm_cfg=norm_cfg,
                                act_cfg=None)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))


@MODELS.register_module()
class DFineHybridEncoder(RTDETRHybridEncoder):
    """D-FINE's neck: :class:`RTDETRHybridEncoder` with D-FINE's CCFM blocks:

    - fusion blocks are :class:`RepNCSPELAN4` whose CSP branches are
      ``round(expansion * embed_dims // 2)`` wide with ``num_csp_blocks`` RepVGG blocks (D-FINE's
      ``round(3 * depth_mult)``);
    - downsampling is :class:`SCDown`, lateral convs have no activation;
    - a map already ``out_channels`` wide goes to the decoder as it is (no projection).

    Its arguments are :class:`RTDETRHybridEncoder`'s.
    """

    def _build_lateral_conv(self) -> nn.Module:
        return ConvModule(self.embed_dims, self.embed_dims, 1, norm_cfg=self.norm_cfg, act_cfg=None)

    def _build_fusion_block(self) -> nn.Module:
        # D-FINE's round(expansion * hidden_dim // 2): the floor division binds first
        hidden = round(self.expansion * self.embed_dims // 2)
        return RepNCSPELAN4(self.embed_dims * 2, self.embed_dims, hidden, self.num_csp_blocks,
                            self.norm_cfg, self.act_cfg)

    def _build_downsample_conv(self) -> nn.Module:
        return SCDown(self.embed_dims, 3, 2, norm_cfg=self.norm_cfg)

    def _build_out_proj(self, out_channels: int) -> nn.Module:
        if out_channels == self.embed_dims:
            return nn.Identity()
        return super()._build_out_proj(out_channels)
