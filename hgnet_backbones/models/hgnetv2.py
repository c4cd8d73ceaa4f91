"""PP-HGNetV2, the PaddleClas backbone, with PaddleClas's exact semantics and parameter names.

The network reads as the paper's: the blocks below, the variants in :attr:`HGNetV2.arch_zoo`. The
CPU speed paths the blocks take (exact, chosen at one place each) are in :mod:`.fast_paths`; the
argument names of RT-DETR's and D-FINE's ``HGNetv2`` in :mod:`.ports`.
"""
import copy
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import MODELS
from .fast_paths import compute_layout, conv_bn_act, same_max_pool_2x2


def checkpointed(fn, x: torch.Tensor, with_cp: bool) -> torch.Tensor:
    """``fn(x)``, recomputing its activations in backward instead of keeping them when ``with_cp``."""
    if with_cp and torch.is_grad_enabled():
        return cp.checkpoint(fn, x, use_reentrant=False)
    return fn(x)


# activations whose mmcv/torch class takes no ``inplace`` argument
NOT_INPLACE_ACTS = ('Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish', 'GELU', 'Clip', 'Clamp')


def zero_padded_max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """The stem pool of timm, D-FINE, RT-DETR's PyTorch port and HF transformers: one row and column
    of zeros padded after the map, then a 2x2 stride-1 max-pool, by the same ops (ONNX Pad + MaxPool).
    A zero in the padding wins wherever the map's last row or column is negative."""
    return F.max_pool2d(F.pad(x, (0, 1, 0, 1)), 2, 1)


# stem_pool: Paddle's (the default, what PaddleClas trained) or the zero-padded one of the other ports
STEM_POOLS = {'paddle': same_max_pool_2x2, 'zero': zero_padded_max_pool_2x2}


class LearnableAffineBlock(nn.Module):
    """``scale * x + bias`` with a learnable scalar scale and bias (PaddleClas's LAB).

    PaddleClas trains both at 0.01x the base learning rate; the optimizer configs of this project do
    the same through ``paramwise_cfg`` (the parameters are named ``*.lab.scale`` / ``*.lab.bias``).
    """

    def __init__(self, scale_value: float = 1.0, bias_value: float = 0.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([scale_value]))
        self.bias = nn.Parameter(torch.tensor([bias_value]))

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """``inplace``: overwrite ``x`` (no new tensor); only where autograd does not need ``x``."""
        if inplace and x.dtype == self.bias.dtype:
            if self.scale is not None:
                x = x.mul_(self.scale)
            return x.add_(self.bias)
        if self.scale is None:  # folded into the conv before it (ConvBNAct.switch_to_deploy)
            return x + self.bias
        return torch.addcmul(self.bias, x, self.scale)


class ConvBNAct(nn.Module):
    """Conv (no bias) -> norm -> optional activation -> optional LAB, named as PaddleClas names them.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size.
        stride (int): Stride. Defaults to 1.
        groups (int): Conv groups. Defaults to 1.
        dilation (int): Dilation. Defaults to 1.
        same_padding (bool): Pad as Paddle's ``padding="SAME"`` does at stride 1 (the extra row and
            column go after, which matters for even kernels) instead of ``(k - 1) // 2`` on both sides.
            Defaults to False.
        use_act (bool): Apply the activation. Defaults to True.
        use_lab (bool): Apply a LearnableAffineBlock after the activation. Defaults to False.
        conv_cfg (dict, optional): Conv layer config. Defaults to None (``nn.Conv2d``).
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='ReLU')``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 groups: int = 1,
                 dilation: int = 1,
                 same_padding: bool = False,
                 use_act: bool = True,
                 use_lab: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        total_pad = dilation * (kernel_size - 1)
        if same_padding:
            if stride != 1:
                raise ValueError(f'same_padding is only defined here for stride 1, got stride={stride}')
            self.pad = (total_pad // 2, total_pad - total_pad // 2) * 2
            padding = 0
        else:
            self.pad = None
            padding = total_pad // 2
        self.conv = build_conv_layer(
            conv_cfg, in_channels, out_channels, kernel_size, stride=stride, padding=padding,
            dilation=dilation, groups=groups, bias=False)
        self.bn = build_norm_layer(norm_cfg, out_channels)[1]
        if use_act:
            act_cfg = dict(act_cfg)
            if act_cfg['type'] not in NOT_INPLACE_ACTS:  # as mmcv's ConvModule: no needless copy
                act_cfg.setdefault('inplace', True)
            self.act = build_activation_layer(act_cfg)
        else:
            self.act = None
        self.lab = LearnableAffineBlock() if use_act and use_lab else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        x = conv_bn_act(self.conv, self.bn, self.act, x)  # act(bn(conv(x))), by the fastest exact path
        if self.lab is not None:
            # x is this block's own new tensor: without autograd, the LAB may overwrite it
            x = self.lab(x, inplace=not torch.is_grad_enabled())
        return x

    @torch.no_grad()
    def switch_to_deploy(self):
        """Fold the BatchNorm (running statistics) into the conv, and the LAB's scale too when it is
        positive and the activation is a ReLU (``s * relu(z) == relu(s * z)`` for ``s > 0``), leaving
        ``conv -> act -> + lab.bias``. Other norms are kept. Idempotent."""
        if not isinstance(self.bn, _BatchNorm) or not self.bn.track_running_stats:
            return
        conv, bn = self.conv, self.bn
        factor = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        bias = bn.bias.double() - bn.running_mean.double() * factor
        if conv.bias is not None:
            bias = bias + conv.bias.double() * factor
        lab = self.lab
        if lab is not None and lab.scale is not None and isinstance(self.act, nn.ReLU) \
                and lab.scale.item() > 0:
            factor, bias = factor * lab.scale.double(), bias * lab.scale.double()
            lab.scale = None
        shape = (-1, ) + (1, ) * (conv.weight.dim() - 1)
        conv.weight.copy_((conv.weight.double() * factor.view(shape)).to(conv.weight.dtype))
        conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)
        self.bn = None


class LightConvBNAct(nn.Module):
    """1x1 conv + norm (no activation), then a depthwise conv + norm + activation (+ LAB)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
                 use_lab: bool = False, **layer_cfg):
        super().__init__()
        self.conv1 = ConvBNAct(in_channels, out_channels, 1, use_act=False, use_lab=use_lab, **layer_cfg)
        self.conv2 = ConvBNAct(out_channels, out_channels, kernel_size, groups=out_channels,
                               dilation=dilation, use_lab=use_lab, **layer_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class StemBlock(nn.Module):
    """The PP-HGNetV2 stem: stride 4 overall, with a max-pool branch beside two 2x2 convs.

    Paddle's stride-1 ``MaxPool2D(2, ceil_mode=True, padding="SAME")`` pads one row and column after
    the map and never lets that padding win the max (:func:`same_max_pool_2x2`). Zero padding, as timm
    and RT-DETR ports do, differs wherever the LAB before it makes values negative; ``pool='zero'``
    reproduces it (:func:`zero_padded_max_pool_2x2`).
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, use_lab: bool = False,
                 pool: str = 'paddle', **layer_cfg):
        super().__init__()
        if pool not in STEM_POOLS:
            raise ValueError(f"stem_pool must be one of {sorted(STEM_POOLS)} ('paddle': PaddleClas's "
                             "exact pool; 'zero': the zero-padded pool of timm, D-FINE and RT-DETR's "
                             f'PyTorch port), got {pool!r}')
        self.pool = STEM_POOLS[pool]
        self.stem1 = ConvBNAct(in_channels, mid_channels, 3, stride=2, use_lab=use_lab, **layer_cfg)
        self.stem2a = ConvBNAct(mid_channels, mid_channels // 2, 2, same_padding=True, use_lab=use_lab,
                                **layer_cfg)
        self.stem2b = ConvBNAct(mid_channels // 2, mid_channels, 2, same_padding=True, use_lab=use_lab,
                                **layer_cfg)
        self.stem3 = ConvBNAct(mid_channels * 2, mid_channels, 3, stride=2, use_lab=use_lab, **layer_cfg)
        self.stem4 = ConvBNAct(mid_channels, out_channels, 1, use_lab=use_lab, **layer_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem1(x)
        x1 = self.pool(x)
        x2 = self.stem2b(self.stem2a(x))
        x = torch.cat([x1, x2], dim=1)
        return self.stem4(self.stem3(x))


class HGV2Block(nn.Module):
    """An HG block: ``num_layers`` chained convs whose outputs (and the input) are concatenated, then
    squeezed to ``out_channels // 2`` and expanded to ``out_channels`` by 1x1 convs; identity shortcut
    on all but a stage's first block."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, num_layers: int,
                 kernel_size: int = 3, dilation: int = 1, identity: bool = False,
                 light_block: bool = False, use_lab: bool = False, with_cp: bool = False,
                 **layer_cfg):
        super().__init__()
        self.identity = identity
        self.with_cp = with_cp
        layer_type = LightConvBNAct if light_block else ConvBNAct
        self.layers = nn.ModuleList(
            layer_type(in_channels if i == 0 else mid_channels, mid_channels, kernel_size,
                       dilation=dilation, use_lab=use_lab, **layer_cfg)
            for i in range(num_layers))
        total_channels = in_channels + num_layers * mid_channels
        self.aggregation_squeeze_conv = ConvBNAct(total_channels, out_channels // 2, 1, use_lab=use_lab,
                                                  **layer_cfg)
        self.aggregation_excitation_conv = ConvBNAct(out_channels // 2, out_channels, 1,
                                                     use_lab=use_lab, **layer_cfg)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for layer in self.layers:
            outputs.append(layer(outputs[-1]))
        out = self.aggregation_excitation_conv(self.aggregation_squeeze_conv(torch.cat(outputs, dim=1)))
        return out + x if self.identity else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkpointed(self._forward, x, self.with_cp)


class HGV2Stage(nn.Module):
    """An optional depthwise stride-2 downsample (norm, no activation) followed by HG blocks."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, num_blocks: int,
                 num_layers: int, downsample: bool = True, light_block: bool = False,
                 kernel_size: int = 3, stride: int = 2, dilation: int = 1,
                 downsample_dilation: int = 1, use_lab: bool = False, with_cp: bool = False,
                 **layer_cfg):
        super().__init__()
        self.with_cp = with_cp
        self.downsample = ConvBNAct(
            in_channels, in_channels, 3, stride=stride, groups=in_channels,
            dilation=downsample_dilation, use_act=False, use_lab=use_lab,
            **layer_cfg) if downsample else None
        self.blocks = nn.Sequential(*(
            HGV2Block(in_channels if i == 0 else out_channels, mid_channels, out_channels, num_layers,
                      kernel_size=kernel_size, dilation=dilation, identity=i > 0,
                      light_block=light_block, use_lab=use_lab, with_cp=with_cp, **layer_cfg)
            for i in range(num_blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample is not None:
            x = checkpointed(self.downsample, x, self.with_cp)
        return self.blocks(x)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


STAGE_FIELDS = ('in_channels', 'mid_channels', 'out_channels', 'num_blocks', 'downsample',
                'light_block', 'kernel_size', 'num_layers')


def stage_channels(arch: Union[str, dict]) -> Tuple[int, ...]:
    """Output channels of the four stages of ``arch``, e.g. for a neck's ``in_channels``:
    B0 (64, 256, 512, 1024), B4 (128, 512, 1024, 2048)."""
    column = STAGE_FIELDS.index('out_channels')
    return tuple(row[column] for row in HGNetV2.parse_arch(arch)[1]['stages'])


class OtherSpellings:
    """A call of the class with another implementation's argument names builds the subclass that
    spells the model with them: :attr:`other_spellings` maps each such name to it (:mod:`.ports`
    adds RT-DETR's and D-FINE's ``HGNetv2``, whose names configs also write under
    ``type='HGNetV2'``). A base placed after the class's own, so that ``inspect.signature`` reads
    the class's ``__init__`` (it prefers a ``__new__`` defined in the class itself)."""
    other_spellings: Dict[str, type] = {}

    def __new__(cls, *args, **kwargs):
        spelling = next((c for name, c in cls.other_spellings.items() if name in kwargs), None)
        if spelling is not None and not issubclass(cls, spelling):
            cls = spelling
        return super().__new__(cls)


@MODELS.register_module()
class HGNetV2(BaseModule, OtherSpellings):
    """PP-HGNetV2 backbone (PaddleClas), B0-B6.

    A GPU-friendly CNN from Baidu's PaddleClas: a stride-4 stem, then four stages of HG blocks that
    concatenate the outputs of a chain of convolutions and aggregate them with 1x1 convs. Stages 3-4
    use light (1x1 + depthwise) layers; B0-B3 add a LearnableAffineBlock after each activation. See
    `PP-HGNetV2 <https://github.com/PaddlePaddle/PaddleClas/blob/release/2.6/docs/zh_CN/models/ImageNet1k/PP-HGNetV2.md>`_.

    Module and parameter names follow PaddleClas's structured names (``stem.stem1.conv``,
    ``stages.2.blocks.0.layers.1.conv2.bn``, ``aggregation_squeeze_conv``, ``lab.scale``), so PaddleClas
    ``.pdparams`` load through a short rename table (see :mod:`hgnet_backbones.weights.convert`).

    Args:
        arch (str | dict): 'B0' ... 'B6', or a dict with the fields of :attr:`arch_zoo` entries:
            ``stem_channels`` (mid, out), ``stages`` (four rows of :data:`STAGE_FIELDS`) and
            ``use_lab``. Defaults to 'B4'.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages (0-3, strides 4/8/16/32) whose outputs are returned.
            Defaults to (3, ).
        out_stride (int): Output stride of the last stage: 32, 16 or 8. Below 32 the stride-2
            downsample of stage 4 (and 3) runs at stride 1 and the convs after it dilate, so the same
            weights load. Defaults to 32.
        use_lab (bool, optional): Use LearnableAffineBlocks. Defaults to None (the arch's value).
        frozen_stages (int): -1 freezes nothing, 0 the stem, k the stem and stages 1..k.
            Defaults to -1.
        norm_eval (bool): Keep norm layers in eval mode (frozen statistics) while training.
            Defaults to False.
        with_cp (bool): Recompute the activations of the stem, each downsample and each HG block in
            backward instead of keeping them (less memory, more compute). Defaults to False.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN', requires_grad=True)``.
        act_cfg (dict): Activation config. Defaults to ``dict(type='ReLU')``.
        init_cfg (dict | list[dict], optional): Initialization config. ``dict(type='Pretrained',
            checkpoint=...)`` takes a local ``.pdparams`` / ``.pth`` / ``.safetensors`` (PaddleClas,
            timm or mmengine), an http(s) URL of one, or 'ssld_stage1' / 'ssld_stage2' for
            PaddleClas's published weights of ``arch``; every backbone key must match.
            Defaults to Kaiming (fan-in, as Paddle) for convs and constant 1/0 for norms.
        stem_pool (str): The stem's max-pool: 'paddle' (PaddleClas's, exact) or 'zero', the
            zero-padded pool of timm, D-FINE, RT-DETR's PyTorch port and HF transformers, for weights
            fine-tuned with those ports. Defaults to 'paddle'.

    The argument names of RT-DETR's and D-FINE's ``HGNetv2`` (``name``, ``return_idx``,
    ``freeze_at``, ``freeze_stem_only``, ``freeze_norm``, ``pretrained``) build that spelling of this
    class, :class:`~hgnet_backbones.models.ports.HGNetv2` (also ``type='HGNetv2'``), which translates
    them to these.
    """

    arch_zoo = {
        # stages: in_channels, mid_channels, out_channels, num_blocks, downsample, light_block,
        #         kernel_size, num_layers   (PaddleClas's stage_config rows)
        'B0': dict(stem_channels=(16, 16), use_lab=True, stages=(
            (16, 16, 64, 1, False, False, 3, 3),
            (64, 32, 256, 1, True, False, 3, 3),
            (256, 64, 512, 2, True, True, 5, 3),
            (512, 128, 1024, 1, True, True, 5, 3))),
        'B1': dict(stem_channels=(24, 32), use_lab=True, stages=(
            (32, 32, 64, 1, False, False, 3, 3),
            (64, 48, 256, 1, True, False, 3, 3),
            (256, 96, 512, 2, True, True, 5, 3),
            (512, 192, 1024, 1, True, True, 5, 3))),
        'B2': dict(stem_channels=(24, 32), use_lab=True, stages=(
            (32, 32, 96, 1, False, False, 3, 4),
            (96, 64, 384, 1, True, False, 3, 4),
            (384, 128, 768, 3, True, True, 5, 4),
            (768, 256, 1536, 1, True, True, 5, 4))),
        'B3': dict(stem_channels=(24, 32), use_lab=True, stages=(
            (32, 32, 128, 1, False, False, 3, 5),
            (128, 64, 512, 1, True, False, 3, 5),
            (512, 128, 1024, 3, True, True, 5, 5),
            (1024, 256, 2048, 1, True, True, 5, 5))),
        'B4': dict(stem_channels=(32, 48), use_lab=False, stages=(
            (48, 48, 128, 1, False, False, 3, 6),
            (128, 96, 512, 1, True, False, 3, 6),
            (512, 192, 1024, 3, True, True, 5, 6),
            (1024, 384, 2048, 1, True, True, 5, 6))),
        'B5': dict(stem_channels=(32, 64), use_lab=False, stages=(
            (64, 64, 128, 1, False, False, 3, 6),
            (128, 128, 512, 2, True, False, 3, 6),
            (512, 256, 1024, 5, True, True, 5, 6),
            (1024, 512, 2048, 2, True, True, 5, 6))),
        'B6': dict(stem_channels=(48, 96), use_lab=False, stages=(
            (96, 96, 192, 2, False, False, 3, 6),
            (192, 192, 512, 3, True, False, 3, 6),
            (512, 384, 1024, 6, True, True, 5, 6),
            (1024, 768, 2048, 3, True, True, 5, 6))),
    }

    # RT-DETR's names of its backbones, by detector size (`name` in its PyTorch port, `arch` in
    # PaddleDetection): the same stage tables
    arch_aliases = {'L': 'B4', 'X': 'B5', 'H': 'B6'}

    def __init__(self,
                 arch: Union[str, dict] = 'B4',
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (3, ),
                 out_stride: int = 32,
                 use_lab: Optional[bool] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[Union[dict, list]] = [
                     dict(type='Kaiming', layer='Conv2d', mode='fan_in'),
                     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
                 ],
                 stem_pool: str = 'paddle'):
        super().__init__(init_cfg=copy.deepcopy(init_cfg))
        self.arch_name, self.arch_settings = self.parse_arch(arch)
        out_indices = self._check_arguments(
            in_channels=in_channels, out_indices=out_indices, out_stride=out_stride,
            use_lab=use_lab, frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp,
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.out_indices = out_indices
        self.out_stride = out_stride
        self.use_lab = self.arch_settings['use_lab'] if use_lab is None else use_lab
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        layer_cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        mid, out = self.arch_settings['stem_channels']
        self.stem = StemBlock(in_channels, mid, out, use_lab=self.use_lab, pool=stem_pool, **layer_cfg)
        self.stages = nn.ModuleList()
        self.feature_info = []
        stride, dilation = 4, 1
        for i, row in enumerate(self.arch_settings['stages']):
            cfg = dict(zip(STAGE_FIELDS, row))
            downsample_stride, downsample_dilation = 2, dilation
            if cfg['downsample']:
                if stride < out_stride:
                    stride *= 2
                else:  # atrous: drop the stride, dilate what follows so the weights still fit
                    downsample_stride = 1
                    dilation *= 2
            self.stages.append(HGV2Stage(
                **cfg, stride=downsample_stride, dilation=dilation,
                downsample_dilation=downsample_dilation, use_lab=self.use_lab, with_cp=with_cp,
                **layer_cfg))
            self.feature_info.append(
                dict(num_chs=cfg['out_channels'], reduction=stride, module=f'stages.{i}'))
        self.out_channels = tuple(self.feature_info[i]['num_chs'] for i in out_indices)
        self._freeze_stages()

    @staticmethod
    def _check_arguments(in_channels, out_indices, out_stride, use_lab, frozen_stages, norm_eval,
                         with_cp, conv_cfg, norm_cfg, act_cfg) -> Tuple[int, ...]:
        """Refuse what would build a wrong model or fail deep inside, naming the argument; return
        ``out_indices`` as a tuple."""
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        out_indices = tuple(out_indices) if isinstance(out_indices, (list, tuple)) else out_indices
        if not isinstance(out_indices, tuple) or not out_indices or any(
                not is_int(i) or not 0 <= i <= 3 for i in out_indices):
            raise ValueError(f'out_indices must be stage indices in 0..3, e.g. (1, 2, 3); got '
                             f'{out_indices!r}')
        if list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f'out_indices must increase without repeats (the maps come out in '
                             f'stage order, as out_channels lists them); got {out_indices!r}, '
                             f'did you mean {tuple(sorted(set(out_indices)))!r}?')
        if not is_int(in_channels) or in_channels < 1:
            raise ValueError(f'in_channels must be a positive int, got {in_channels!r}')
        if not is_int(frozen_stages) or not -1 <= frozen_stages <= 4:
            raise ValueError(f'frozen_stages must be an int in -1..4, got {frozen_stages!r}')
        if out_stride not in (8, 16, 32) or not is_int(out_stride):
            raise ValueError(f'out_stride must be 32, 16 or 8, got {out_stride!r}')
        for name, value, allowed in (('use_lab', use_lab, 'True, False or None (the arch\'s value)'),
                                     ('norm_eval', norm_eval, 'True or False'),
                                     ('with_cp', with_cp, 'True or False')):
            if not (isinstance(value, bool) or (value is None and name == 'use_lab')):
                raise ValueError(f'{name} must be {allowed}, got {value!r}')
        for name, cfg, example in (('norm_cfg', norm_cfg, "dict(type='BN')"),
                                   ('act_cfg', act_cfg, "dict(type='ReLU')")):
            if not isinstance(cfg, dict) or 'type' not in cfg:
                raise ValueError(f'{name} must be a dict with a type, such as {example}; got {cfg!r}')
        if conv_cfg is not None and (not isinstance(conv_cfg, dict) or 'type' not in conv_cfg):
            raise ValueError(f"conv_cfg must be None or a dict with a type, such as "
                             f"dict(type='Conv2d'); got {conv_cfg!r}")
        return out_indices

    @classmethod
    def parse_arch(cls, arch: Union[str, dict]) -> Tuple[str, Dict]:
        """Return ``(name, settings)`` for an arch name ('B0'..'B6' or an alias of
        :attr:`arch_aliases`, any case) or a settings dict."""
        if isinstance(arch, str):
            name = cls.arch_aliases.get(arch.upper(), arch.upper())
            if name not in cls.arch_zoo:
                raise ValueError(f'Unknown HGNetV2 arch {arch!r}; choose one of {sorted(cls.arch_zoo)} '
                                 f'(or {", ".join(cls.arch_aliases)}, RT-DETR\'s names of B4, B5, B6), '
                                 'or pass a dict with stem_channels, stages and use_lab')
            return name, cls.arch_zoo[name]
        if not isinstance(arch, dict):
            raise ValueError(f'arch must be a str or dict, got {type(arch).__name__}')
        missing = {'stem_channels', 'stages', 'use_lab'} - set(arch)
        if missing:
            raise ValueError(f'Custom HGNetV2 arch is missing {sorted(missing)}')
        stem = arch['stem_channels']
        if not isinstance(stem, (list, tuple)) or len(stem) != 2 or not all(
                is_int(c) and c > 0 for c in stem):
            raise ValueError(f'Custom HGNetV2 arch: stem_channels must be two positive ints '
                             f'(mid, out), got {stem!r}')
        if not isinstance(arch['use_lab'], bool):
            raise ValueError(f"Custom HGNetV2 arch: use_lab must be True or False, got {arch['use_lab']!r}")
        rows = arch['stages']
        if not isinstance(rows, (list, tuple)) or len(rows) != 4 or any(
                not isinstance(row, (list, tuple)) or len(row) != len(STAGE_FIELDS) for row in rows):
            raise ValueError(f'Custom HGNetV2 arch needs 4 stage rows of {STAGE_FIELDS}, got {rows!r}')
        stages = tuple(tuple(row) for row in rows)
        previous = stem[1]
        for i, row in enumerate(stages):
            cfg = dict(zip(STAGE_FIELDS, row))
            bad = [k for k, v in cfg.items() if not (
                isinstance(v, bool) if k in ('downsample', 'light_block') else is_int(v) and v > 0)]
            if bad or cfg['kernel_size'] % 2 == 0:
                raise ValueError(f'Custom HGNetV2 arch, stage {i}: {bad or ["kernel_size"]} invalid in '
                                 f'{cfg} (channels, blocks, layers: positive ints; kernel_size odd; '
                                 'downsample, light_block: bools)')
            if cfg['in_channels'] != previous:
                raise ValueError(f"Custom HGNetV2 arch, stage {i}: in_channels={cfg['in_channels']} "
                                 f'but the {"stem" if i == 0 else f"stage {i - 1}"} gives {previous}')
            previous = cfg['out_channels']
        return 'custom', dict(stem_channels=tuple(stem), stages=stages, use_lab=arch['use_lab'])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, to_input_layout = compute_layout(x)  # channels_last for training on a CPU
        x = checkpointed(self.stem, x, self.with_cp)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(to_input_layout(x))
        return tuple(outs)

    def switch_to_deploy(self):
        """Fold every BatchNorm into its conv (and the LABs' scales where exact) for inference and
        export; mmdeploy calls this before exporting. Outputs stay those of the model in eval mode;
        the weights keep their names (``conv.bias`` is added, ``lab.scale`` goes where folded)."""
        for module in self.modules():
            if isinstance(module, ConvBNAct):
                module.switch_to_deploy()

    def _freeze_stages(self):
        frozen = [self.stem, *self.stages[:self.frozen_stages]] if self.frozen_stages >= 0 else []
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self):
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            # the one call into the weights layer, imported here: it builds on the model
            from ..weights.load import load_pretrained_backbone
            load_pretrained_backbone(self, self.init_cfg['checkpoint'], prefix=self.init_cfg.get('prefix'),
                                     map_location=self.init_cfg.get('map_location', 'cpu'))
            self._is_init = True
            return
        super().init_weights()
