"""Published HGNetV2 detector checkpoints (D-FINE and DEIM releases, transformers' D-FINE, RT-DETR from
PaddleDetection and from lyuwenyu/RT-DETR's PyTorch code) recognised from their key names and shapes
and converted to this package's models.

D-FINE-architecture files go through transformers' D-FINE layout (:func:`dfine_to_transformers`, the
mapping of transformers' ``convert_d_fine_original_pytorch_checkpoint_to_hf.py``) and then
:func:`hgnet_backbones.weights.convert.dfine.convert_dfine_transformers`. RT-DETR files go through
transformers' RT-DETRv2 names to :func:`~.rtdetr.convert_hf_rtdetr_v2` (encoder, decoder, heads) and
the backbone through :func:`~.backbone.convert_state_dict`. Nothing here imports mmdet or
transformers; files are read by :func:`hgnet_backbones.weights.read_checkpoint` (nothing in them
is run) and written atomically.
"""
import os
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from ...fileio import atomic_open
from ..read import PADDLE_NAME_TABLE_KEY, CheckpointError, read_checkpoint
from .backbone import (HF_RENAMES, HF_ROOT_RENAMES, _to_tensor, add_batch_counters,
                       backbone_state_dict, check_finite, convert_state_dict, guess_arch,
                       paddle_norm_name)
from .dfine import convert_dfine_transformers
from .rtdetr import convert_hf_rtdetr_v2

# every layout this module recognises: the model family it holds and what it is
LAYOUTS = {
    'dfine_release': dict(
        family='dfine', what="a D-FINE or DEIM release (Peterande/D-FINE, ShihuaHuang95/DEIM "
                             "dfine_hgnetv2_*.pth: 'model' and 'ema' of the D-FINE architecture)"),
    'dfine_transformers': dict(
        family='dfine', what="transformers' D-FINE (DFineForObjectDetection, ustc-community/dfine-*)"),
    'rtdetr_paddle': dict(
        family='rtdetr', what="PaddleDetection's RT-DETR (rtdetr_hgnetv2_{l,x}_6x_coco.pdparams)"),
    'rtdetr_pytorch': dict(
        family='rtdetr', what="lyuwenyu/RT-DETR's PyTorch RT-DETR or RT-DETRv2 (rtdetr_pytorch, "
                              "rtdetrv2_pytorch) with an HGNetV2 backbone"),
    'rtdetr_v2_transformers': dict(
        family=None, what="transformers' RT-DETRv2 (RTDetrV2ForObjectDetection; its backbone is "
                          "left out, see tools/convert_rtdetr.py)"),
}

# (family, variant) -> the backbone arch and encoder width that identify it, and the config to use
DETECTOR_VARIANTS = {
    ('dfine', 'n'): dict(arch='B0', hidden_dim=128, config='configs/dfine/dfine_hgnetv2-n_coco.py'),
    ('dfine', 's'): dict(arch='B0', hidden_dim=256, config='configs/dfine/dfine_hgnetv2-s_coco.py'),
    ('dfine', 'm'): dict(arch='B2', hidden_dim=256, config='configs/dfine/dfine_hgnetv2-m_coco.py'),
    ('dfine', 'l'): dict(arch='B4', hidden_dim=256, config='configs/dfine/dfine_hgnetv2-l_coco.py'),
    ('dfine', 'x'): dict(arch='B5', hidden_dim=384, config='configs/dfine/dfine_hgnetv2-x_coco.py'),
    ('rtdetr', 'l'): dict(arch='B4', hidden_dim=256,
                          config='configs/rtdetr/rtdetr_hgnetv2-l_release_coco.py'),
    ('rtdetr', 'x'): dict(arch='B5', hidden_dim=384,
                          config='configs/rtdetr/rtdetr_hgnetv2-x_release_coco.py'),
    ('rtdetr', 'h'): dict(arch='B6', hidden_dim=512,
                          config='configs/rtdetr/rtdetr_hgnetv2-h_release_coco.py'),
}

# the key each layout's HGNetV2 backbone starts with
RELEASE_STEM_KEY = 'backbone.stem.stem1.conv.weight'
HF_DFINE_STEM_KEY = 'model.backbone.model.embedder.stem1.convolution.weight'
# Paddle's Embeddings store [num, dim] as torch's do; its other 2-D weights are Linear [in, out]
PADDLE_EMBEDDINGS = ('denoising_class_embed.weight', 'tgt_embed.weight')

# lyuwenyu's RT-DETR (and D-FINE, which descends from it) -> transformers' names; each pattern
# matches the start of a key and the rest (weight, bias, running_mean, ...) is kept
_DETR_TO_HF = [
    (r'encoder\.input_proj\.(\d+)\.(?:0|conv)\.', r'model.encoder_input_proj.\1.0.'),
    (r'encoder\.input_proj\.(\d+)\.(?:1|norm)\.', r'model.encoder_input_proj.\1.1.'),
    (r'encoder\.encoder\.(\d+)\.layers\.(\d+)\.self_attn\.out_proj\.',
     r'model.encoder.encoder.\1.layers.\2.self_attn.out_proj.'),
    (r'encoder\.encoder\.(\d+)\.layers\.(\d+)\.linear1\.', r'model.encoder.encoder.\1.layers.\2.fc1.'),
    (r'encoder\.encoder\.(\d+)\.layers\.(\d+)\.linear2\.', r'model.encoder.encoder.\1.layers.\2.fc2.'),
    (r'encoder\.encoder\.(\d+)\.layers\.(\d+)\.norm1\.',
     r'model.encoder.encoder.\1.layers.\2.self_attn_layer_norm.'),
    (r'encoder\.encoder\.(\d+)\.layers\.(\d+)\.norm2\.',
     r'model.encoder.encoder.\1.layers.\2.final_layer_norm.'),
    (r'decoder\.input_proj\.(\d+)\.(?:0|conv)\.', r'model.decoder_input_proj.\1.0.'),
    (r'decoder\.input_proj\.(\d+)\.(?:1|norm)\.', r'model.decoder_input_proj.\1.1.'),
    (r'decoder\.decoder\.layers\.(\d+)\.self_attn\.out_proj\.',
     r'model.decoder.layers.\1.self_attn.out_proj.'),
    (r'decoder\.decoder\.layers\.(\d+)\.cross_attn\.(sampling_offsets|attention_weights|value_proj|'
     r'output_proj)\.', r'model.decoder.layers.\1.encoder_attn.\2.'),
    (r'decoder\.decoder\.layers\.(\d+)\.norm1\.', r'model.decoder.layers.\1.self_attn_layer_norm.'),
    (r'decoder\.decoder\.layers\.(\d+)\.norm2\.', r'model.decoder.layers.\1.encoder_attn_layer_norm.'),
    (r'decoder\.decoder\.layers\.(\d+)\.norm3\.', r'model.decoder.layers.\1.final_layer_norm.'),
    (r'decoder\.decoder\.layers\.(\d+)\.linear1\.', r'model.decoder.layers.\1.fc1.'),
    (r'decoder\.decoder\.layers\.(\d+)\.linear2\.', r'model.decoder.layers.\1.fc2.'),
    (r'decoder\.dec_score_head\.', 'model.decoder.class_embed.'),
    (r'decoder\.dec_bbox_head\.', 'model.decoder.bbox_embed.'),
    (r'decoder\.denoising_class_embed\.', 'model.denoising_class_embed.'),
    (r'decoder\.query_pos_head\.', 'model.decoder.query_pos_head.'),
    (r'decoder\.enc_output\.(?:0|proj)\.', 'model.enc_output.0.'),
    (r'decoder\.enc_output\.(?:1|norm)\.', 'model.enc_output.1.'),
    (r'decoder\.enc_score_head\.', 'model.enc_score_head.'),
    (r'decoder\.enc_bbox_head\.', 'model.enc_bbox_head.'),
]
# RT-DETR's hybrid encoder keeps its names in transformers; RT-DETRv2's points per level
_RTDETR_TO_HF = _DETR_TO_HF + [
    (r'encoder\.(lateral_convs|fpn_blocks|downsample_convs|pan_blocks)\.', r'model.encoder.\1.'),
    (r'decoder\.decoder\.layers\.(\d+)\.cross_attn\.num_points_scale$',
     r'model.decoder.layers.\1.encoder_attn.n_points_scale'),
]
# D-FINE's GELAN encoder blocks (cv1..cv4), SCDown, gateway, LQE, FDR buffers
_DFINE_TO_HF = _DETR_TO_HF + [
    (r'encoder\.(fpn_blocks|pan_blocks)\.(\d+)\.cv1\.', r'model.encoder.\1.\2.conv1.'),
    (r'encoder\.(fpn_blocks|pan_blocks)\.(\d+)\.cv2\.0\.', r'model.encoder.\1.\2.csp_rep1.'),
    (r'encoder\.(fpn_blocks|pan_blocks)\.(\d+)\.cv2\.1\.', r'model.encoder.\1.\2.conv2.'),
    (r'encoder\.(fpn_blocks|pan_blocks)\.(\d+)\.cv3\.0\.', r'model.encoder.\1.\2.csp_rep2.'),
    (r'encoder\.(fpn_blocks|pan_blocks)\.(\d+)\.cv3\.1\.', r'model.encoder.\1.\2.conv3.'),
    (r'encoder\.(fpn_blocks|pan_blocks)\.(\d+)\.cv4\.', r'model.encoder.\1.\2.conv4.'),
    (r'encoder\.downsample_convs\.(\d+)\.0\.cv(\d+)\.', r'model.encoder.downsample_convs.\1.conv\2.'),
    (r'encoder\.lateral_convs\.', 'model.encoder.lateral_convs.'),
    (r'decoder\.decoder\.layers\.(\d+)\.cross_attn\.num_points_scale$',
     r'model.decoder.layers.\1.encoder_attn.num_points_scale'),
    (r'decoder\.decoder\.layers\.(\d+)\.gateway\.', r'model.decoder.layers.\1.gateway.'),
    (r'decoder\.decoder\.lqe_layers\.', 'model.decoder.lqe_layers.'),
    (r'decoder\.pre_bbox_head\.', 'model.decoder.pre_bbox_head.'),
    (r'decoder\.(up|reg_scale)$', r'model.decoder.\1'),
]
# buffers the models compute again (anchors and mask for the evaluation size) and D-FINE's
# decoder's second reference to its `up` and `reg_scale`
_RECOMPUTED = re.compile(r'decoder\.(anchors|valid_mask|decoder\.up|decoder\.reg_scale)$')
# the first input projection of the encoder, whose output channels are its width
_INPUT_PROJ_KEYS = {'dfine_transformers': ['model.encoder_input_proj.0.0.weight'],
                    'rtdetr_paddle': ['neck.input_proj.0.0.weight'],
                    None: ['encoder.input_proj.0.conv.weight', 'encoder.input_proj.0.0.weight']}
_IN_PROJ = re.compile(r'(encoder\.encoder\.(\d+)|decoder\.decoder)\.layers\.(\d+)\.self_attn\.'
                      r'in_proj_(weight|bias)$')


def release_state(checkpoint: Mapping) -> Mapping:
    """The weights a release's inference uses: ``ema['module']`` where present (D-FINE's, DEIM's and
    RT-DETR's trainers), else ``model``, ``state_dict`` or ``module``, else the mapping itself."""
    ema = checkpoint.get('ema')
    if isinstance(ema, Mapping) and isinstance(ema.get('module'), Mapping):
        return ema['module']
    for key in ('model', 'state_dict', 'module'):
        if isinstance(checkpoint.get(key), Mapping):
            return checkpoint[key]
    return checkpoint


def _describe(state: Mapping) -> str:
    """What a state dict looks like: its size, its top-level prefixes and the backbone it holds."""
    keys = [k for k in state if k != PADDLE_NAME_TABLE_KEY]
    if not keys:
        return 'it holds no tensors'
    prefixes = sorted({k.split('.')[0] for k in keys})
    if any(re.match(r'(backbone\.)?(stem|stages)\.', k) or k.endswith('embedder.stem1.convolution.weight')
           for k in keys) and not any(k.startswith(('encoder', 'decoder', 'neck', 'transformer',
                                                    'model.encoder', 'model.decoder')) for k in keys):
        looks = 'a bare HGNetV2 backbone or classifier (no encoder or decoder)'
    elif any(re.match(r'(model\.)?backbone\.(model\.)?(conv1|res_layers|embedder\.embedder)', k)
             for k in keys):
        looks = 'a detector with a ResNet backbone'
    else:
        looks = 'no layout known here'
    return f'{len(keys)} tensors under {prefixes[:8]}: {looks}'


def _refuse(state: Mapping, why: str) -> CheckpointError:
    known = '; '.join(f'{name}: {info["what"]}' for name, info in LAYOUTS.items())
    return CheckpointError(f'{why}. The file holds {_describe(state)}. Known detector layouts: '
                           f'{known}')


def is_detector_checkpoint(checkpoint: Mapping) -> bool:
    """Whether a checkpoint holds a DETR-like detector (a transformer decoder) of any layout, known
    or not: such a file is for :func:`convert_detector`, not for the backbone converters."""
    state = release_state(checkpoint)
    return any(isinstance(k, str) and k.startswith(
        ('decoder.decoder.layers.', 'transformer.decoder.layers.', 'model.decoder.layers.'))
        for k in state)


def detect_detector_layout(state: Mapping) -> str:
    """The name (a key of :data:`LAYOUTS`) of the layout a detector state dict (or a release's
    checkpoint, see :func:`release_state`) is written in, from its key names alone.

    Raises:
        CheckpointError: another layout (a bare backbone, a ResNet RT-DETR, ...), naming the known
            layouts and what the file looks like.
    """
    state = release_state(state)
    keys = set(state)
    if any(k.startswith('model.decoder.layers.') for k in keys):
        if HF_DFINE_STEM_KEY in keys:
            return 'dfine_transformers'
        if any('.gateway.' in k or k.startswith('model.decoder.lqe_layers.') for k in keys):
            raise _refuse(state, "transformers' D-FINE without an HGNetV2 backbone")
        return 'rtdetr_v2_transformers'
    has_decoder = any(k.startswith(('decoder.decoder.layers.', 'transformer.decoder.layers.'))
                      for k in keys)
    if not has_decoder:
        raise _refuse(state, 'no detector layout recognised')
    if RELEASE_STEM_KEY not in keys:
        raise _refuse(state, 'a DETR-like detector whose backbone is not HGNetV2')
    if any(k.startswith('transformer.') for k in keys) and any(
            k.endswith(('._mean', '._variance')) for k in keys):
        return 'rtdetr_paddle'
    if any(k.startswith(('decoder.decoder.lqe_layers.', 'decoder.pre_bbox_head.')) or '.gateway.' in k
           for k in keys):
        return 'dfine_release'
    if any(k.startswith('decoder.dec_score_head.') for k in keys):
        return 'rtdetr_pytorch'
    raise _refuse(state, 'no detector layout recognised')


def _rename(key: str, table) -> Optional[str]:
    for pattern, replacement in table:
        new, n = re.subn(f'^{pattern}', replacement, key)
        if n:
            return new
    return None


def _to_transformers(state: Mapping, table, skip: Callable[[str], bool]
                     ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """``state``'s keys renamed by ``table``, attention in-projections split into q/k/v; keys
    ``skip`` accepts are left out. Returns the renamed dict and the keys no rule took."""
    out, unknown = {}, []
    for key, value in state.items():
        value = _to_tensor(value)
        if skip(key):
            continue
        m = _IN_PROJ.match(key)
        if m:
            prefix = (f'model.encoder.encoder.{m.group(2)}.layers.{m.group(3)}' if m.group(2)
                      else f'model.decoder.layers.{m.group(3)}')
            for name, part in zip(('q_proj', 'k_proj', 'v_proj'), value.chunk(3)):
                out[f'{prefix}.self_attn.{name}.{m.group(4)}'] = part
            continue
        new = _rename(key, table)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    return out, unknown


def _raise_unknown(unknown: Sequence[str], layout: str) -> None:
    if unknown:
        raise CheckpointError(f'{len(unknown)} keys of the {layout} checkpoint have no place in '
                              f'the converted model (a learnt initial query, another decoder?): '
                              f'{list(unknown)[:8]}')


def dfine_to_transformers(state: Mapping) -> Dict[str, torch.Tensor]:
    """A D-FINE or DEIM release's weights (``ema['module']`` or ``model``; a whole checkpoint is
    unwrapped) under transformers' ``DFineForObjectDetection`` names, as transformers' own
    conversion script writes them: in-projections split into q/k/v, the anchors and valid mask
    (computed again) and the batch counters left out, the decoder heads also under the top-level
    ``class_embed`` / ``bbox_embed`` names they are tied to.

    Raises:
        CheckpointError: keys this mapping does not know, naming them.
    """
    state = release_state(state)
    backbone = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    rest = {k: v for k, v in state.items() if not k.startswith('backbone.')}
    out, unknown = _to_transformers(
        rest, _DFINE_TO_HF, lambda k: bool(_RECOMPUTED.match(k)) or k.endswith('num_batches_tracked'))
    _raise_unknown(unknown, 'D-FINE')
    for key, value in backbone.items():
        if key.endswith('num_batches_tracked'):
            continue
        for hf_root, ours in HF_ROOT_RENAMES:
            if key.startswith(ours):
                key = hf_root + key[len(ours):]
                break
        else:
            unknown.append('backbone.' + key)
            continue
        for hf_part, ours in HF_RENAMES[:2]:  # convolution/normalization; D-FINE's aggregation.N stay
            key = key.replace(ours, hf_part)
        out['model.backbone.model.' + key] = _to_tensor(value)
    _raise_unknown(unknown, 'D-FINE')
    if 'model.decoder.reg_scale' in out:  # an int64 in the release, a float parameter in transformers
        out['model.decoder.reg_scale'] = out['model.decoder.reg_scale'].float()
    for key in [k for k in out if k.startswith(('model.decoder.class_embed.',
                                               'model.decoder.bbox_embed.'))]:
        out[key[len('model.decoder.'):]] = out[key]
    return out


def rtdetr_paddle_to_pytorch(state: Mapping) -> Dict[str, torch.Tensor]:
    """PaddleDetection's RT-DETR weights in lyuwenyu/RT-DETR's PyTorch layout: ``neck`` ->
    ``encoder``, ``transformer`` -> ``decoder``, BatchNorm ``_mean``/``_variance`` ->
    ``running_mean``/``running_var``, Linear weights (stored [in, out]) transposed, the denoising
    embedding given the padding row lyuwenyu's ``nn.Embedding(num_classes + 1, ...)`` has last."""
    out = {}
    for key, value in state.items():
        if key == PADDLE_NAME_TABLE_KEY:
            continue
        value = _to_tensor(value)
        key = paddle_norm_name(key)
        if key.startswith('neck.'):
            key = 'encoder.' + key[len('neck.'):]
        elif key.startswith('transformer.'):
            key = 'decoder.' + key[len('transformer.'):]
        if not key.startswith('backbone.') and value.dim() == 2 and not key.endswith(
                PADDLE_EMBEDDINGS):
            value = value.t()
        if key.endswith('denoising_class_embed.weight'):
            value = torch.cat([value, value.new_zeros(1, value.shape[1])])
        out[key] = value
    return out


def rtdetr_to_transformers(state: Mapping) -> Dict[str, torch.Tensor]:
    """lyuwenyu/RT-DETR's encoder, decoder and heads under transformers' RT-DETRv2 names (the
    input of :func:`~.rtdetr.convert_hf_rtdetr_v2`); the backbone is left out.

    Raises:
        CheckpointError: keys this mapping does not know, naming them.
    """
    rest = {k: v for k, v in state.items() if not k.startswith('backbone.')}
    out, unknown = _to_transformers(
        rest, _RTDETR_TO_HF, lambda k: bool(_RECOMPUTED.match(k)) or k.endswith('num_batches_tracked'))
    _raise_unknown(unknown, 'RT-DETR')
    return out


def _hidden_dim(state: Mapping, layout: str) -> int:
    """The encoder's width: the output channels of its first input projection."""
    keys = [k for k in _INPUT_PROJ_KEYS.get(layout, _INPUT_PROJ_KEYS[None]) if k in state]
    if not keys:
        raise _refuse(state, f'a {layout} checkpoint without the encoder\'s input projection')
    return int(state[keys[0]].shape[0])


def _num_classes(state: Mapping, layout: str) -> int:
    key = 'model.enc_score_head.bias' if layout.endswith('_transformers') else \
        'transformer.enc_score_head.bias' if layout == 'rtdetr_paddle' else 'decoder.enc_score_head.bias'
    return int(state[key].shape[0]) if key in state else -1


def detector_variant(layout: str, state: Mapping, backbone: Mapping) -> str:
    """The variant (D-FINE's n..x, RT-DETR's l, x, h) of a checkpoint in ``layout``, from its
    backbone (converted to this package's names) and its encoder width.

    Raises:
        CheckpointError: a backbone or width no variant of :data:`DETECTOR_VARIANTS` has.
    """
    family = LAYOUTS[layout]['family']
    arch, exact = guess_arch(backbone_state_dict(backbone))
    hidden = _hidden_dim(state, layout)
    for (name, variant), row in DETECTOR_VARIANTS.items():
        if name == family and exact and row['arch'] == arch and row['hidden_dim'] == hidden:
            return variant
    known = ', '.join(f'{v} (HGNetV2-{r["arch"]}, width {r["hidden_dim"]})'
                      for (f, v), r in DETECTOR_VARIANTS.items() if f == family)
    raise CheckpointError(
        f'a {layout} checkpoint with an HGNetV2-{arch}{"" if exact else " (closest)"} backbone and '
        f'an encoder of width {hidden}: no published {family} variant has these; known: {known}')


def convert_detector(checkpoint: Mapping) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Convert a published HGNetV2 detector checkpoint (any layout of :data:`LAYOUTS`; a whole
    release checkpoint is unwrapped with :func:`release_state`) to this package's model.

    Returns:
        tuple: the state dict, and ``info``: ``layout``, ``variant`` (None for transformers'
        RT-DETRv2), ``num_classes``, ``config`` (the config of :data:`DETECTOR_VARIANTS` to build
        the model from), ``tensors`` (how many were written) and ``left_out`` (keys the model
        computes again or does not hold).

    Raises:
        CheckpointError: another layout or variant, or keys with no place in the model.
    """
    state = release_state(checkpoint)
    layout = detect_detector_layout(state)
    info = dict(layout=layout, what=LAYOUTS[layout]['what'], variant=None,
                num_classes=_num_classes(state, layout), config=None)
    if layout == 'rtdetr_v2_transformers':
        out, left_out = convert_hf_rtdetr_v2(state)
        info.update(left_out=left_out)
    elif LAYOUTS[layout]['family'] == 'dfine':
        hf = state if layout == 'dfine_transformers' else dfine_to_transformers(state)
        backbone = convert_state_dict({k: v for k, v in hf.items()
                                       if k.startswith('model.backbone.model.')})
        info['variant'] = detector_variant(layout, state, backbone)
        out = convert_dfine_transformers(hf)
        info.update(left_out=sorted(k for k in state if _RECOMPUTED.match(k)))
    else:
        torch_state = rtdetr_paddle_to_pytorch(state) if layout == 'rtdetr_paddle' else state
        backbone = convert_state_dict(
            {k[len('backbone.'):]: v for k, v in torch_state.items() if k.startswith('backbone.')})
        info['variant'] = detector_variant(layout, state, backbone)
        out, _ = convert_hf_rtdetr_v2(rtdetr_to_transformers(torch_state))
        out.update(backbone)
        info.update(left_out=sorted(k for k in torch_state if _RECOMPUTED.match(k)))
    if info['variant'] is not None:
        info['config'] = DETECTOR_VARIANTS[LAYOUTS[layout]['family'], info['variant']]['config']
    out = add_batch_counters({k: v.contiguous() for k, v in out.items()})
    info['tensors'] = len(out)
    return out, info


def convert_detector_file(src: str, dst: str) -> dict:
    """Read a published detector checkpoint (``.pth``, ``.pdparams``, ``.safetensors``; nothing in
    it is run), convert it (:func:`convert_detector`) and write an mmengine checkpoint
    (``state_dict`` of plain tensors, ``meta``) to ``dst`` atomically.

    Returns:
        The ``info`` of :func:`convert_detector`, with ``source`` and ``dst``.
    """
    src = os.path.expanduser(str(src))
    if os.path.exists(dst) and os.path.exists(src) and os.path.samefile(src, dst):
        raise ValueError(f'the output {dst} is the input checkpoint itself; write the converted '
                         'checkpoint to another file')
    state, info = convert_detector(read_checkpoint(src))
    check_finite(state, src)
    info.update(source=src, dst=str(dst))
    meta = {k: v for k, v in info.items() if k not in ('dfine', 'left_out')}
    with atomic_open(dst) as f:
        torch.save(dict(state_dict=state, meta=meta), f)
    return info
