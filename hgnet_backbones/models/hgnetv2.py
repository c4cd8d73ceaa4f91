"""PP-HGNetV2, the PaddleClas backbone, with PaddleClas's exact semantics and parameter names."""
import copy
import functools
import inspect
import weakref
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule

from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import MODELS


def checkpointed(fn, x: torch.Tensor, with_cp: bool) -> torch.Tensor:
    """``fn(x)``, recomputing its activations in backward instead of keeping them when ``with_cp``."""
    if with_cp and torch.is_grad_enabled():
        return cp.checkpoint(fn, x, use_reentrant=False)
    return fn(x)


def _tracing() -> bool:
    """Whether the forward is being traced, exported or compiled (plain ops are needed then)."""
    compiling = getattr(getattr(torch, 'compiler', None), 'is_compiling', None)
    return (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
            or (compiling is not None and compiling()))


def _autocast_on() -> bool:
    try:
        return torch.is_autocast_enabled('cpu')
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


# the dtypes oneDNN convolves in on this CPU
_ONEDNN_DTYPES = () if not torch.backends.mkldnn.is_available() else (torch.float32, torch.bfloat16) \
    if getattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', lambda: False)() else (torch.float32, )
# oneDNN's fused convolution with weights reordered once, the op Inductor's freezing emits on a CPU
_MKLDNN_CONV = (bool(_ONEDNN_DTYPES) and hasattr(torch.ops.mkldnn, '_convolution_pointwise')
                and hasattr(torch._C._nn, 'mkldnn_reorder_conv2d_weight'))
# conv -> (key of the weights it was made from, oneDNN-layout weight); off the module, so that
# copies, pickles and state dicts never see it
_PACKED_WEIGHTS = weakref.WeakKeyDictionary()


def prepacked_conv_applies(conv: nn.Module, x: torch.Tensor) -> bool:
    """Whether :func:`prepacked_conv` runs ``conv(x)``: inference (autograd off) on a CPU in float32
    (or bfloat16 where oneDNN has it) with a plain ``nn.Conv2d``, outside tracing, export, compiling
    and autocast."""
    return (_MKLDNN_CONV and type(x) is torch.Tensor and type(conv) is nn.Conv2d
            and conv.padding_mode == 'zeros' and not isinstance(conv.padding, str)
            and x.device.type == 'cpu' and x.dtype in _ONEDNN_DTYPES
            and conv.weight.dtype == x.dtype and x.dim() == 4 and not torch.is_grad_enabled()
            and not _tracing() and not _autocast_on())


def prepacked_conv(conv: nn.Conv2d, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
    """``conv(x)`` (then ReLU if ``relu``) as one oneDNN primitive whose weights were reordered to its
    blocked layout once, instead of on every call as eager ``conv2d`` does. The reordered copy is
    remade whenever the weight or bias changes (new tensor, in-place update or dtype) or the input's
    shape does (a stream of varying sizes reorders on every call, as eager mode does)."""
    weight, bias = conv.weight, conv.bias
    key = (id(weight), weight._version, weight.dtype,
           None if bias is None else (id(bias), bias._version), tuple(x.shape))
    cached = _PACKED_WEIGHTS.get(conv)
    if cached is None or cached[0] != key:
        # the layout oneDNN picks depends on the input's shape; one packed for another shape would
        # be reordered again on every call
        packed = torch._C._nn.mkldnn_reorder_conv2d_weight(
            weight.detach().to_mkldnn(), list(conv.padding), list(conv.stride), list(conv.dilation),
            conv.groups, list(x.shape))
        cached = _PACKED_WEIGHTS[conv] = (key, packed)
    return torch.ops.mkldnn._convolution_pointwise(
        x, cached[1], bias, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups,
        'relu' if relu else 'none', [], '')


# activations whose mmcv/torch class takes no ``inplace`` argument
NOT_INPLACE_ACTS = ('Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish', 'GELU', 'Clip', 'Clamp')


def _max_of_pairs(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``out[i] = max(x[i], x[i + 1])`` along ``dim``, the last entry kept as it is."""
    n = x.shape[dim]
    return torch.cat([torch.maximum(x.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1)),
                      x.narrow(dim, n - 1, 1)], dim)


def _max_of_pairs_backward(grad: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """The gradient of :func:`_max_of_pairs` (``x``'s), as autograd gives it for ``torch.maximum``:
    each pair's larger entry gets the gradient, equal ones half each."""
    n = x.shape[dim]
    if n == 1:
        return grad
    share = torch.sign(x.narrow(dim, 0, n - 1) - x.narrow(dim, 1, n - 1)).add_(1).mul_(0.5)
    pairs = grad.narrow(dim, 0, n - 1)
    first = pairs * share
    out = grad.clone()  # the last entry's own gradient
    out.narrow(dim, 0, n - 1).copy_(first)
    out.narrow(dim, 1, n - 1).add_(pairs - first)
    return out


class _SameMaxPool2x2(torch.autograd.Function):
    """:func:`same_max_pool_2x2` with its backward written out: the gradients autograd gives the
    plain ops, in a few passes over the map instead of the masks, ``where``s and zero-filled slice
    gradients of ``torch.maximum`` (a tenth of a B0 training step on a CPU)."""

    @staticmethod
    def forward(ctx, x):
        columns = _max_of_pairs(x, -1)
        ctx.save_for_backward(x, columns)
        return _max_of_pairs(columns, -2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, columns = ctx.saved_tensors
        return _max_of_pairs_backward(_max_of_pairs_backward(grad, columns, -2), x, -1)


def same_max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """Paddle's ``MaxPool2D(2, stride=1, ceil_mode=True, padding="SAME")``: each output is the max of
    the 2x2 window whose top-left is that pixel, the window cut at the bottom and right edges (the
    padding never wins the max).

    Computed as the max of shifted views, the last column (then row) taken as it is: exact, an order
    of magnitude faster on a CPU than ``max_pool2d`` (which computes indices too), and no infinite
    padding value in the graph, which int8 quantization could not scale (ONNX Slice + Max + Concat).
    Ties share the gradient, as ``torch.maximum``'s do.
    """
    if torch.is_grad_enabled() and x.requires_grad and not _tracing():
        return _SameMaxPool2x2.apply(x)
    return _max_of_pairs(_max_of_pairs(x, -1), -2)


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
        act = self.act
        if self.bn is None and prepacked_conv_applies(self.conv, x):  # deploy mode, inference
            relu = isinstance(act, nn.ReLU)
            x = prepacked_conv(self.conv, x, relu=relu)
            act = None if relu else act
        elif self._frozen_bn() and torch.is_grad_enabled() and not _tracing():
            x = self._conv_frozen_bn(x)
        else:
            x = self.conv(x)
            if self.bn is not None:
                x = self.bn(x)
        if act is not None:
            x = act(x)
        if self.lab is not None:
            # x is this block's own new tensor: without autograd, the LAB may overwrite it
            x = self.lab(x, inplace=not torch.is_grad_enabled())
        return x

    def _frozen_bn(self) -> bool:
        """A BatchNorm that normalises with its running statistics (eval mode, e.g. ``norm_eval``)
        after a plain conv: a per-channel affine map that can fold into the conv."""
        bn = self.bn
        return (isinstance(bn, _BatchNorm) and not bn.training and bn.track_running_stats
                and bn.running_var is not None and type(self.conv) is nn.Conv2d)

    def _conv_frozen_bn(self, x: torch.Tensor) -> torch.Tensor:
        """``bn(conv(x))`` for a frozen BatchNorm as one conv whose weight and bias carry the BN's
        affine map, computed here so that gradients reach the conv and BN parameters as before: the
        activation is written once instead of twice (and read back once less in backward)."""
        conv, bn = self.conv, self.bn
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = bn.weight * scale
        bias = -bn.running_mean * scale
        if bn.bias is not None:
            bias = bias + bn.bias
        if conv.bias is not None:
            bias = bias + conv.bias * scale
        return conv._conv_forward(x, conv.weight * scale.view(-1, 1, 1, 1), bias)

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


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


STAGE_FIELDS = ('in_channels', 'mid_channels', 'out_channels', 'num_blocks', 'downsample',
                'light_block', 'kernel_size', 'num_layers')


def stage_channels(arch: Union[str, dict]) -> Tuple[int, ...]:
    """Output channels of the four stages of ``arch``, e.g. for a neck's ``in_channels``:
    B0 (64, 256, 512, 1024), B4 (128, 512, 1024, 2048)."""
    column = STAGE_FIELDS.index('out_channels')
    return tuple(row[column] for row in HGNetV2.parse_arch(arch)[1]['stages'])


# RT-DETR names its backbones by detector size (`name` in its PyTorch port, `arch` in PaddleDetection)
RTDETR_ARCHS = {'L': 'B4', 'X': 'B5', 'H': 'B6'}
# The arguments of the RT-DETR (PyTorch port, PaddleDetection) and D-FINE ``HGNetv2``s that differ
# from ours, and the arguments of ours that give the same settings: a call uses one or the other.
PORT_ARGUMENTS = {'name': ('arch', ), 'return_idx': ('out_indices', ),
                  'freeze_at': ('frozen_stages', ), 'freeze_stem_only': ('frozen_stages', ),
                  'freeze_norm': ('norm_eval', ), 'pretrained': ('init_cfg', )}


def _port_arch(name) -> str:
    if isinstance(name, str) and name.upper() in RTDETR_ARCHS:
        return RTDETR_ARCHS[name.upper()]
    if isinstance(name, str) and name.upper() in HGNetV2.arch_zoo:
        return name.upper()
    raise ValueError(f"name must be one of {sorted(HGNetV2.arch_zoo)} (D-FINE) or "
                     f"{', '.join(f'{k} (= {v})' for k, v in RTDETR_ARCHS.items())} (RT-DETR); "
                     f'got {name!r}')


def _port_frozen_stages(port: dict, rtdetr_pytorch: bool) -> int:
    """``frozen_stages`` for the ports' ``freeze_at`` / ``freeze_stem_only``. D-FINE and PaddleDetection
    freeze the stem for ``freeze_at >= 0`` and, unless ``freeze_stem_only``, stages 1..freeze_at+1
    (defaults: 0, True); RT-DETR's PyTorch port has no ``freeze_stem_only`` and freezes the stem and
    stages 1..freeze_at (default -1)."""
    rtdetr_pytorch = rtdetr_pytorch and 'freeze_stem_only' not in port
    freeze_at = port.get('freeze_at', -1 if rtdetr_pytorch else 0)
    stem_only = port.get('freeze_stem_only', True)
    if not _is_int(freeze_at):
        raise ValueError(f'freeze_at must be an int (-1: nothing frozen), got {freeze_at!r}')
    if not isinstance(stem_only, bool):
        raise ValueError(f'freeze_stem_only must be True or False, got {stem_only!r}')
    if freeze_at < 0:
        return -1
    if rtdetr_pytorch:
        return min(freeze_at, 4)
    return 0 if stem_only else min(freeze_at + 1, 4)


def translate_port_arguments(given: dict, defaults: dict) -> dict:
    """``given`` (the arguments a caller named) with the RT-DETR / D-FINE names replaced by ours
    (:data:`PORT_ARGUMENTS`), giving the model those ports build: ``name`` -> ``arch`` ('L', 'X',
    'H' -> 'B4', 'B5', 'B6', also as ``arch``); ``return_idx`` -> ``out_indices``; ``freeze_at`` /
    ``freeze_stem_only`` -> ``frozen_stages``; ``freeze_norm=True`` -> ``norm_eval=True`` and norms
    without trainable affine parameters (D-FINE's ``FrozenBatchNorm2d``); ``pretrained=True`` -> the
    weights that port loads, a str -> that checkpoint. Raises ValueError where both names of one
    setting are given. ``defaults``: the defaults of ``HGNetV2.__init__``."""
    port = {k: given[k] for k in PORT_ARGUMENTS if k in given}
    ours = {k: v for k, v in given.items() if k not in PORT_ARGUMENTS}
    for port_name, value in port.items():
        for our_name in PORT_ARGUMENTS[port_name]:
            if our_name in ours:
                raise ValueError(
                    f'{port_name}={value!r} (the RT-DETR/D-FINE name) and {our_name}='
                    f'{ours[our_name]!r} set the same thing; give only one of them (README, "Coming '
                    'from RT-DETR / D-FINE / timm")')
    arch = ours.get('arch')
    if isinstance(arch, str) and arch.upper() in RTDETR_ARCHS:
        ours['arch'] = RTDETR_ARCHS[arch.upper()]
    if 'name' in port:
        ours['arch'] = _port_arch(port['name'])
    if 'return_idx' in port:
        ours['out_indices'] = port['return_idx']
    if 'freeze_at' in port or 'freeze_stem_only' in port:
        rtdetr_pytorch = isinstance(port.get('name'), str) and port['name'].upper() in RTDETR_ARCHS
        ours['frozen_stages'] = _port_frozen_stages(port, rtdetr_pytorch)
    if 'freeze_norm' in port:
        freeze_norm = port['freeze_norm']
        if not isinstance(freeze_norm, bool):
            raise ValueError(f'freeze_norm must be True or False, got {freeze_norm!r}')
        ours['norm_eval'] = freeze_norm
        norm_cfg = ours.get('norm_cfg', defaults['norm_cfg'])
        if freeze_norm and isinstance(norm_cfg, dict):
            if 'norm_cfg' in ours and norm_cfg.get('requires_grad') is True:
                raise ValueError(f'freeze_norm=True freezes the norms\' affine parameters, but '
                                 f'norm_cfg={norm_cfg!r} trains them; drop one of the two')
            ours['norm_cfg'] = dict(norm_cfg, requires_grad=False)
    if 'pretrained' in port:
        pretrained = port['pretrained']
        if pretrained is True:
            # imported here: the weights package builds on the model, not the other way round
            from ..weights.zoo import port_pretrained_weights
            checkpoint = port_pretrained_weights(port.get('name'))
        elif isinstance(pretrained, str) and pretrained:
            checkpoint = pretrained
        elif pretrained in (False, None):
            return ours
        else:
            raise ValueError(f'pretrained must be True, False or a checkpoint (path, URL or weights '
                             f'name), got {pretrained!r}')
        ours['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint)
    return ours


def accepts_port_arguments(init):
    """Let ``HGNetV2.__init__`` take the RT-DETR / D-FINE argument names too
    (:func:`translate_port_arguments`). Its own arguments are bound by name first, positional ones
    included, so that a mix of both names for one setting is seen however it was passed."""
    signature = inspect.signature(init)
    defaults = {k: p.default for k, p in signature.parameters.items()}

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        port = {k: kwargs.pop(k) for k in PORT_ARGUMENTS if k in kwargs}
        given = signature.bind_partial(self, *args, **kwargs).arguments
        given.pop('self')
        ours = translate_port_arguments({**given, **port}, defaults)
        try:
            return init(self, **ours)
        except ValueError as e:  # name the arguments the caller wrote, not only ours
            if not port:
                raise
            raise ValueError(f'{e} (translated from the RT-DETR/D-FINE arguments {port})') from e

    return wrapper


@MODELS.register_module(name=['HGNetV2', 'HGNetv2'])  # HGNetv2: RT-DETR's and D-FINE's class name
class HGNetV2(BaseModule):
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

    The argument names of RT-DETR's and D-FINE's ``HGNetv2`` are accepted too, instead of ours, and
    give the model those ports build (:func:`translate_port_arguments`): ``name`` ('B0'..'B6', or
    RT-DETR's 'L', 'X', 'H' = B4, B5, B6), ``return_idx``, ``freeze_at``, ``freeze_stem_only``,
    ``freeze_norm``, ``pretrained``; ``type='HGNetv2'`` finds this class too.
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

    @accepts_port_arguments
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
                not _is_int(i) or not 0 <= i <= 3 for i in out_indices):
            raise ValueError(f'out_indices must be stage indices in 0..3, e.g. (1, 2, 3); got '
                             f'{out_indices!r}')
        if list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f'out_indices must increase without repeats (the maps come out in '
                             f'stage order, as out_channels lists them); got {out_indices!r}, '
                             f'did you mean {tuple(sorted(set(out_indices)))!r}?')
        if not _is_int(in_channels) or in_channels < 1:
            raise ValueError(f'in_channels must be a positive int, got {in_channels!r}')
        if not _is_int(frozen_stages) or not -1 <= frozen_stages <= 4:
            raise ValueError(f'frozen_stages must be an int in -1..4, got {frozen_stages!r}')
        if out_stride not in (8, 16, 32) or not _is_int(out_stride):
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
        """Return ``(name, settings)`` for an arch name ('B0'..'B6', any case) or a settings dict."""
        if isinstance(arch, str):
            name = arch.upper()
            if name not in cls.arch_zoo:
                raise ValueError(f'Unknown HGNetV2 arch {arch!r}; choose one of {sorted(cls.arch_zoo)} '
                                 'or pass a dict with stem_channels, stages and use_lab')
            return name, cls.arch_zoo[name]
        if not isinstance(arch, dict):
            raise ValueError(f'arch must be a str or dict, got {type(arch).__name__}')
        missing = {'stem_channels', 'stages', 'use_lab'} - set(arch)
        if missing:
            raise ValueError(f'Custom HGNetV2 arch is missing {sorted(missing)}')
        stem = arch['stem_channels']
        if not isinstance(stem, (list, tuple)) or len(stem) != 2 or not all(
                _is_int(c) and c > 0 for c in stem):
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
                isinstance(v, bool) if k in ('downsample', 'light_block') else _is_int(v) and v > 0)]
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
        contiguous = x.is_contiguous() and not _tracing()
        if contiguous and torch.is_grad_enabled() and x.device.type == 'cpu' and \
                x.dtype in _ONEDNN_DTYPES and x.dim() == 4:
            # training on a CPU: oneDNN's native layout, no reorder of the activations around every
            # conv, forward and backward (measured: steps 0.8-0.9 of NCHW's; not so at inference,
            # where B5/B6 are slower); the maps are returned in the input's layout
            x = x.contiguous(memory_format=torch.channels_last)
        x = checkpointed(self.stem, x, self.with_cp)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x.contiguous() if contiguous else x)
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
            # imported here: the weights package builds on the model, not the other way round
            from ..weights.load import load_pretrained_backbone
            load_pretrained_backbone(self, self.init_cfg['checkpoint'], prefix=self.init_cfg.get('prefix'),
                                     map_location=self.init_cfg.get('map_location', 'cpu'))
            self._is_init = True
            return
        super().init_weights()
