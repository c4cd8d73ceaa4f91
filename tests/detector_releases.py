"""Test helper: state dicts of random weights laid out as the published HGNetV2 detector checkpoints
are, written from the reference implementations' module definitions (not from this package's
conversion tables):

- lyuwenyu/RT-DETR's PyTorch RT-DETR (``rtdetr_pytorch``: ``v1``) and RT-DETRv2 (``rtdetrv2_pytorch``:
  ``v2``): ``src/zoo/rtdetr/hybrid_encoder.py``, ``rtdetr_decoder.py``, ``rtdetrv2_decoder.py`` and
  ``src/nn/backbone/hgnetv2.py`` (stem2a/stem2b convolutions in ``nn.Sequential(ZeroPad2d, Conv2d)``,
  ``FrozenBatchNorm2d`` without a batch counter);
- PaddleDetection's RT-DETR (``ppdet/modeling``: ``HybridEncoder`` as ``neck``, ``RTDETRTransformer`` as
  ``transformer``, ``PPHGNetV2`` as ``backbone``): BatchNorm ``_mean``/``_variance``, Linear weights
  [in, out], ``MultiHeadAttention.in_proj_weight`` [embed, 3 * embed], a denoising embedding of
  ``num_classes`` rows, NumPy arrays;
- D-FINE's releases (Peterande/D-FINE): from transformers' ``DFineForObjectDetection`` keys, renamed
  back by D-FINE's module names, with the trainer's ``model`` / ``ema`` wrapping.
"""
import re
from typing import Dict, List, Tuple

import numpy as np
import torch

from hgnet_backbones import HGNetV2

# RT-DETR's variants: backbone arch, encoder width, FFN width, AIFI layers (rtdetrv2 *.yml)
RTDETR_SIZES = {'l': ('B4', 256, 1024, 1), 'x': ('B5', 384, 2048, 1), 'h': ('B6', 512, 2048, 2)}
NUM_CLASSES = 80
DECODER_DIM, HEADS, LEVELS, POINTS, DECODER_LAYERS, CSP_BLOCKS = 256, 8, 3, 4, 6, 3
EVAL_TOKENS = 80 * 80 + 40 * 40 + 20 * 20  # anchors for the 640x640 evaluation size


def _bn(prefix: str, channels: int, counter: bool = True) -> List[Tuple[str, tuple]]:
    keys = [(f'{prefix}.{p}', (channels,)) for p in ('weight', 'bias', 'running_mean', 'running_var')]
    return keys + ([(f'{prefix}.num_batches_tracked', ())] if counter else [])


def _linear(prefix: str, n_in: int, n_out: int) -> List[Tuple[str, tuple]]:
    return [(f'{prefix}.weight', (n_out, n_in)), (f'{prefix}.bias', (n_out,))]


def _conv_norm(prefix: str, n_in: int, n_out: int, k: int) -> List[Tuple[str, tuple]]:
    """lyuwenyu's ConvNormLayer: ``conv`` (no bias) and ``norm``."""
    return [(f'{prefix}.conv.weight', (n_out, n_in, k, k))] + _bn(f'{prefix}.norm', n_out)


def _mlp(prefix: str, dims) -> List[Tuple[str, tuple]]:
    return [k for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))
            for k in _linear(f'{prefix}.layers.{i}', a, b)]


def _backbone(arch: str) -> Dict[str, torch.Tensor]:
    """HGNetV2 random weights under lyuwenyu's backbone names (``backbone.``, stem2a/2b padded)."""
    torch.manual_seed(1)
    model = HGNetV2(arch=arch, init_cfg=None)
    out = {}
    for key, value in model.state_dict().items():
        if key.endswith('num_batches_tracked'):  # FrozenBatchNorm2d
            continue
        for stem in ('stem2a', 'stem2b'):
            key = key.replace(f'stem.{stem}.conv.', f'stem.{stem}.conv.1.')
        out['backbone.' + key] = torch.randn_like(value) * 0.1 if value.is_floating_point() else value
    return out


def rtdetr_pytorch_shapes(variant: str = 'l', version: str = 'v2') -> List[Tuple[str, tuple]]:
    """Keys and shapes of lyuwenyu's RT-DETR(v2) encoder and decoder (no backbone)."""
    _, dim, ffn, aifi = RTDETR_SIZES[variant]
    keys = []
    for i, channels in enumerate((512, 1024, 2048)):
        if version == 'v1':  # nn.Sequential(Conv2d, BatchNorm2d)
            keys += [(f'encoder.input_proj.{i}.0.weight', (dim, channels, 1, 1))]
            keys += _bn(f'encoder.input_proj.{i}.1', dim)
        else:
            keys += [(f'encoder.input_proj.{i}.conv.weight', (dim, channels, 1, 1))]
            keys += _bn(f'encoder.input_proj.{i}.norm', dim)
    for j in range(aifi):
        layer = f'encoder.encoder.0.layers.{j}'
        keys += [(f'{layer}.self_attn.in_proj_weight', (3 * dim, dim)),
                 (f'{layer}.self_attn.in_proj_bias', (3 * dim,))]
        keys += _linear(f'{layer}.self_attn.out_proj', dim, dim)
        keys += _linear(f'{layer}.linear1', dim, ffn) + _linear(f'{layer}.linear2', ffn, dim)
        keys += [(f'{layer}.norm{n}.{p}', (dim,)) for n in (1, 2) for p in ('weight', 'bias')]
    for i in range(2):
        keys += _conv_norm(f'encoder.lateral_convs.{i}', dim, dim, 1)
        keys += _conv_norm(f'encoder.downsample_convs.{i}', dim, dim, 3)
        for block in (f'encoder.fpn_blocks.{i}', f'encoder.pan_blocks.{i}'):
            keys += _conv_norm(f'{block}.conv1', 2 * dim, dim, 1)
            keys += _conv_norm(f'{block}.conv2', 2 * dim, dim, 1)
            for b in range(CSP_BLOCKS):  # RepVggBlock; conv3 is Identity at expansion 1.0
                keys += _conv_norm(f'{block}.bottlenecks.{b}.conv1', dim, dim, 3)
                keys += _conv_norm(f'{block}.bottlenecks.{b}.conv2', dim, dim, 1)
    d = DECODER_DIM
    for i in range(LEVELS):
        keys += _conv_norm(f'decoder.input_proj.{i}', dim, d, 1)
    for i in range(DECODER_LAYERS):
        layer = f'decoder.decoder.layers.{i}'
        keys += [(f'{layer}.self_attn.in_proj_weight', (3 * d, d)),
                 (f'{layer}.self_attn.in_proj_bias', (3 * d,))]
        keys += _linear(f'{layer}.self_attn.out_proj', d, d)
        if version == 'v2':
            keys += [(f'{layer}.cross_attn.num_points_scale', (LEVELS * POINTS,))]
        keys += _linear(f'{layer}.cross_attn.sampling_offsets', d, HEADS * LEVELS * POINTS * 2)
        keys += _linear(f'{layer}.cross_attn.attention_weights', d, HEADS * LEVELS * POINTS)
        keys += _linear(f'{layer}.cross_attn.value_proj', d, d)
        keys += _linear(f'{layer}.cross_attn.output_proj', d, d)
        keys += _linear(f'{layer}.linear1', d, 1024) + _linear(f'{layer}.linear2', 1024, d)
        keys += [(f'{layer}.norm{n}.{p}', (d,)) for n in (1, 2, 3) for p in ('weight', 'bias')]
    keys += [('decoder.denoising_class_embed.weight', (NUM_CLASSES + 1, d))]
    keys += _mlp('decoder.query_pos_head', (4, 2 * d, d))
    names = ('0', '1') if version == 'v1' else ('proj', 'norm')
    keys += _linear(f'decoder.enc_output.{names[0]}', d, d)
    keys += [(f'decoder.enc_output.{names[1]}.{p}', (d,)) for p in ('weight', 'bias')]
    keys += _linear('decoder.enc_score_head', d, NUM_CLASSES)
    keys += _mlp('decoder.enc_bbox_head', (d, d, d, 4))
    for i in range(DECODER_LAYERS):
        keys += _linear(f'decoder.dec_score_head.{i}', d, NUM_CLASSES)
        keys += _mlp(f'decoder.dec_bbox_head.{i}', (d, d, d, 4))
    keys += [('decoder.anchors', (1, EVAL_TOKENS, 4)), ('decoder.valid_mask', (1, EVAL_TOKENS, 1))]
    return keys


def rtdetr_pytorch_state(variant: str = 'l', version: str = 'v2') -> Dict[str, torch.Tensor]:
    """lyuwenyu's RT-DETR(v2) HGNetV2 weights: random, batch counters 0, points scale 1/4."""
    torch.manual_seed(0)
    state = _backbone(RTDETR_SIZES[variant][0])
    for key, shape in rtdetr_pytorch_shapes(variant, version):
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(0)
        elif key.endswith('num_points_scale'):
            state[key] = torch.full(shape, 1 / POINTS)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape) + 0.5
        else:
            state[key] = torch.randn(shape) * 0.1
    return state


def rtdetr_release(state: Dict[str, torch.Tensor]) -> dict:
    """A release checkpoint of lyuwenyu's trainer: ``model`` and ``ema['module']`` (the EMA, which
    inference uses) differ."""
    return {'model': {k: v + 1 if v.is_floating_point() else v for k, v in state.items()},
            'ema': {'module': state, 'updates': 1000}, 'last_epoch': 71}


def rtdetr_paddle_state(torch_state: Dict[str, torch.Tensor]) -> Dict[str, np.ndarray]:
    """The same weights as ``torch_state`` (lyuwenyu's v1/v2 layout) laid out as PaddleDetection's
    ``rtdetr_hgnetv2_*_6x_coco.pdparams``: NumPy arrays, ``neck`` / ``transformer``, BN
    ``_mean``/``_variance`` and no counter, the encoder's BatchNorms named ``bn``, Linear [in, out], unnamed ``Sequential`` input
    projections of the encoder, no padding row in the denoising embedding, no anchors."""
    out = {}
    for key, value in torch_state.items():
        if key.endswith('num_batches_tracked') or key in ('decoder.anchors', 'decoder.valid_mask') \
                or key.endswith('num_points_scale'):
            continue
        key = key.replace('.conv.1.', '.conv.').replace('.running_mean', '._mean') \
            .replace('.running_var', '._variance')
        key = re.sub(r'^encoder\.input_proj\.(\d+)\.conv\.', r'neck.input_proj.\1.0.', key)
        key = re.sub(r'^encoder\.input_proj\.(\d+)\.norm\.', r'neck.input_proj.\1.1.', key)
        # the encoder's ConvBNLayer / BaseConv name their BatchNorm `bn`
        key = re.sub(r'^encoder\.(.*)\.norm\.', r'neck.\1.bn.', key)
        key = re.sub(r'^encoder\.', 'neck.', key)
        key = re.sub(r'^decoder\.', 'transformer.', key)
        key = key.replace('enc_output.proj.', 'enc_output.0.').replace('enc_output.norm.',
                                                                       'enc_output.1.')
        value = value.numpy()
        if key.endswith('denoising_class_embed.weight'):
            value = value[:-1]
        elif not key.startswith('backbone.') and value.ndim == 2:
            value = value.T
        out[key] = np.ascontiguousarray(value)
    return out


# transformers' D-FINE names -> D-FINE's module names (Peterande/D-FINE src/zoo/dfine: HybridEncoder
# with RepNCSPELAN4 blocks cv1..cv4 and SCDown, DFINETransformer with its TransformerDecoder in
# `decoder.decoder`, HGNetv2 with ConvBNAct `conv`/`bn`), in order; the first match wins
_DFINE_NAMES = [
    (r'model\.backbone\.model\.embedder\.', 'backbone.stem.'),
    (r'model\.backbone\.model\.encoder\.stages\.', 'backbone.stages.'),
    (r'model\.encoder_input_proj\.(\d+)\.0\.', r'encoder.input_proj.\1.conv.'),
    (r'model\.encoder_input_proj\.(\d+)\.1\.', r'encoder.input_proj.\1.norm.'),
    (r'model\.encoder\.encoder\.(\d+)\.layers\.(\d+)\.fc1\.', r'encoder.encoder.\1.layers.\2.linear1.'),
    (r'model\.encoder\.encoder\.(\d+)\.layers\.(\d+)\.fc2\.', r'encoder.encoder.\1.layers.\2.linear2.'),
    (r'model\.encoder\.encoder\.(\d+)\.layers\.(\d+)\.self_attn_layer_norm\.',
     r'encoder.encoder.\1.layers.\2.norm1.'),
    (r'model\.encoder\.encoder\.(\d+)\.layers\.(\d+)\.final_layer_norm\.',
     r'encoder.encoder.\1.layers.\2.norm2.'),
    (r'model\.encoder\.(fpn|pan)_blocks\.(\d+)\.conv1\.', r'encoder.\1_blocks.\2.cv1.'),
    (r'model\.encoder\.(fpn|pan)_blocks\.(\d+)\.csp_rep1\.', r'encoder.\1_blocks.\2.cv2.0.'),
    (r'model\.encoder\.(fpn|pan)_blocks\.(\d+)\.conv2\.', r'encoder.\1_blocks.\2.cv2.1.'),
    (r'model\.encoder\.(fpn|pan)_blocks\.(\d+)\.csp_rep2\.', r'encoder.\1_blocks.\2.cv3.0.'),
    (r'model\.encoder\.(fpn|pan)_blocks\.(\d+)\.conv3\.', r'encoder.\1_blocks.\2.cv3.1.'),
    (r'model\.encoder\.(fpn|pan)_blocks\.(\d+)\.conv4\.', r'encoder.\1_blocks.\2.cv4.'),
    (r'model\.encoder\.downsample_convs\.(\d+)\.conv(\d)\.', r'encoder.downsample_convs.\1.0.cv\2.'),
    (r'model\.encoder\.', 'encoder.'),
    (r'model\.decoder_input_proj\.(\d+)\.0\.', r'decoder.input_proj.\1.conv.'),
    (r'model\.decoder_input_proj\.(\d+)\.1\.', r'decoder.input_proj.\1.norm.'),
    (r'model\.decoder\.layers\.(\d+)\.self_attn_layer_norm\.', r'decoder.decoder.layers.\1.norm1.'),
    (r'model\.decoder\.layers\.(\d+)\.encoder_attn_layer_norm\.', r'decoder.decoder.layers.\1.norm2.'),
    (r'model\.decoder\.layers\.(\d+)\.final_layer_norm\.', r'decoder.decoder.layers.\1.norm3.'),
    (r'model\.decoder\.layers\.(\d+)\.encoder_attn\.', r'decoder.decoder.layers.\1.cross_attn.'),
    (r'model\.decoder\.layers\.(\d+)\.fc1\.', r'decoder.decoder.layers.\1.linear1.'),
    (r'model\.decoder\.layers\.(\d+)\.fc2\.', r'decoder.decoder.layers.\1.linear2.'),
    (r'model\.decoder\.layers\.', 'decoder.decoder.layers.'),
    (r'model\.decoder\.lqe_layers\.', 'decoder.decoder.lqe_layers.'),
    (r'model\.decoder\.class_embed\.', 'decoder.dec_score_head.'),
    (r'model\.decoder\.bbox_embed\.', 'decoder.dec_bbox_head.'),
    (r'model\.decoder\.', 'decoder.'),
    (r'model\.denoising_class_embed\.', 'decoder.denoising_class_embed.'),
    (r'model\.enc_output\.0\.', 'decoder.enc_output.proj.'),
    (r'model\.enc_output\.1\.', 'decoder.enc_output.norm.'),
    (r'model\.(enc_score_head|enc_bbox_head)\.', r'decoder.\1.'),
]
_QKV = re.compile(r'(.+\.self_attn)\.([qkv])_proj\.(weight|bias)$')


def dfine_release_state(hf_state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """transformers D-FINE weights (``DFineForObjectDetection.state_dict()``) as D-FINE's own model
    holds them: ``nn.MultiheadAttention`` in-projections, FrozenBatchNorm2d backbone without batch
    counters, ``up`` and the int64 ``reg_scale`` also under the decoder's ``decoder``, the anchors
    and valid mask of the 640x640 evaluation size."""
    out, qkv = {}, {}
    for key, value in hf_state.items():
        if key.startswith(('class_embed.', 'bbox_embed.')):  # tied to the decoder's
            continue
        if key.startswith('model.backbone.') and key.endswith('num_batches_tracked'):
            continue
        for pattern, replacement in _DFINE_NAMES:
            new, n = re.subn(f'^{pattern}', replacement, key)
            if n:
                break
        else:
            raise KeyError(key)
        if new.startswith('backbone.'):
            new = new.replace('.convolution.', '.conv.').replace('.normalization.', '.bn.')
        m = _QKV.match(new)
        if m:
            qkv.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = value
            continue
        out[new] = value
    for (prefix, param), parts in qkv.items():
        out[f'{prefix}.in_proj_{param}'] = torch.cat([parts['q'], parts['k'], parts['v']])
    out['decoder.reg_scale'] = out['decoder.reg_scale'].long()
    out['decoder.decoder.up'] = out['decoder.up']
    out['decoder.decoder.reg_scale'] = out['decoder.reg_scale']
    tokens = sum((640 // s) ** 2 for s in (8, 16, 32))
    out['decoder.anchors'] = torch.zeros(1, tokens, 4)
    out['decoder.valid_mask'] = torch.ones(1, tokens, 1, dtype=torch.bool)
    return out
