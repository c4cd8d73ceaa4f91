"""Hugging Face ``transformers`` RT-DETRv2 checkpoints (``RTDetrV2ForObjectDetection``, what the hub
holds) in this package's mmdet layout: encoder, decoder and heads; the backbone is left out (ours is
HGNetV2, loaded from its own weights). Nothing here imports mmdet or transformers; files are read
by :func:`hgnet_backbones.weights.read_checkpoint` (nothing in them is run) and written atomically."""
import json
import os
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from ...fileio import atomic_open
from ..read import read_checkpoint
from .backbone import check_finite

# the weights files of a transformers model folder (save_pretrained), in the order they are looked for
HF_WEIGHTS_FILES = ('model.safetensors', 'pytorch_model.bin')

# (pattern, replacement) on a key inside an encoder layer (AIFI) or a decoder layer
_ENCODER_LAYER = [
    (r'self_attn\.out_proj\.', 'self_attn.attn.out_proj.'),
    (r'self_attn_layer_norm\.', 'norms.0.'),
    (r'fc1\.', 'ffn.layers.0.0.'),
    (r'fc2\.', 'ffn.layers.1.'),
    (r'final_layer_norm\.', 'norms.1.'),
]
_DECODER_LAYER = [
    (r'self_attn\.out_proj\.', 'self_attn.attn.out_proj.'),
    (r'self_attn_layer_norm\.', 'norms.0.'),
    (r'encoder_attn\.(sampling_offsets|attention_weights|value_proj|output_proj)\.', r'cross_attn.\1.'),
    (r'encoder_attn_layer_norm\.', 'norms.1.'),
    (r'fc1\.', 'ffn.layers.0.0.'),
    (r'fc2\.', 'ffn.layers.1.'),
    (r'final_layer_norm\.', 'norms.2.'),
]
_QKV = ('q_proj', 'k_proj', 'v_proj')  # nn.MultiheadAttention's in_proj order


def _rename_layer(rest: str, table) -> str:
    for pattern, replacement in table:
        new, n = re.subn(f'^{pattern}', replacement, rest)
        if n:
            return new
    raise KeyError(rest)


def _mlp(rest: str) -> str:
    """``layers.i.x`` of transformers' MLP head -> ``(2i).x`` of mmdet's Linear/ReLU Sequential."""
    index, param = re.fullmatch(r'layers\.(\d+)\.(.+)', rest).groups()
    return f'{2 * int(index)}.{param}'


def _conv_norm(rest: str) -> str:
    """``i.0.x`` (conv) / ``i.1.x`` (BatchNorm) of a Sequential -> ``i.conv.x`` / ``i.bn.x``."""
    index, part, param = re.fullmatch(r'(\d+)\.([01])\.(.+)', rest).groups()
    return f'{index}.{"conv" if part == "0" else "bn"}.{param}'


def num_decoder_layers(state: Mapping[str, torch.Tensor]) -> int:
    layers = {int(m.group(1)) for k in state for m in [re.match(r'model\.decoder\.layers\.(\d+)\.', k)]
              if m}
    if not layers:
        raise KeyError('no model.decoder.layers.* keys: not a transformers RT-DETR(v2) checkpoint')
    return max(layers) + 1


def convert_hf_rtdetr_v2(state: Mapping[str, torch.Tensor]
                         ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Convert a ``RTDetrV2ForObjectDetection`` state dict to the keys of :class:`RTDETR`
    (``neck.*``, ``memory_trans_*``, ``decoder.*``, ``bbox_head.*``, ``dn_query_generator.*``).

    Returns:
        tuple: the converted state dict and the checkpoint's backbone keys (left out).

    Raises:
        KeyError: keys this layout does not know (naming them), e.g. a learnt initial query.
        ValueError: a deformable attention whose points per level differ (mmcv's takes one number).
    """
    num_layers = num_decoder_layers(state)
    out: Dict[str, torch.Tensor] = {}
    backbone, unknown = [], []
    qkv: Dict[str, Dict[str, torch.Tensor]] = {}

    def put(key: str, value: torch.Tensor, source: str) -> None:
        if key in out and not torch.equal(out[key], value):
            raise ValueError(f'{source} and another key both give {key}, with different values')
        out[key] = value

    for key, value in state.items():
        name = key[len('model.'):] if key.startswith('model.') else key
        m = re.fullmatch(r'(?:(encoder\.encoder\.(\d+))|decoder)\.layers\.(\d+)\.self_attn\.'
                         r'([qkv]_proj)\.(weight|bias)', name)
        if m:
            prefix = (f'neck.aifi.{m.group(2)}' if m.group(1) else 'decoder') + \
                f'.layers.{m.group(3)}.self_attn.attn.in_proj_{m.group(5)}'
            qkv.setdefault(prefix, {})[m.group(4)] = value
            continue
        try:
            if name.startswith('backbone.'):
                backbone.append(key)
            elif name.startswith('encoder_input_proj.'):
                put('neck.in_projs.' + _conv_norm(name[len('encoder_input_proj.'):]), value, key)
            elif name.startswith('decoder_input_proj.'):
                put('neck.out_projs.' + _conv_norm(name[len('decoder_input_proj.'):]), value, key)
            elif name.startswith('encoder.encoder.'):
                index, layer, rest = re.fullmatch(r'encoder\.encoder\.(\d+)\.layers\.(\d+)\.(.+)',
                                                  name).groups()
                put(f'neck.aifi.{index}.layers.{layer}.' + _rename_layer(rest, _ENCODER_LAYER),
                    value, key)
            elif re.match(r'encoder\.(lateral_convs|downsample_convs|fpn_blocks|pan_blocks)\.',
                          name):
                put('neck.' + name[len('encoder.'):].replace('.norm.', '.bn.'), value, key)
            elif name.startswith('enc_output.'):
                index, param = re.fullmatch(r'enc_output\.([01])\.(.+)', name).groups()
                put(('memory_trans_fc.' if index == '0' else 'memory_trans_norm.') + param, value,
                    key)
            elif name.startswith('enc_score_head.'):
                put(f'bbox_head.cls_branches.{num_layers}.' + name[len('enc_score_head.'):], value,
                    key)
            elif name.startswith('enc_bbox_head.'):
                put(f'bbox_head.reg_branches.{num_layers}.' + _mlp(name[len('enc_bbox_head.'):]),
                    value, key)
            elif name.startswith('decoder.query_pos_head.'):
                put(name, value, key)
            elif re.match(r'decoder\.layers\.\d+\.encoder_attn\.n_points_scale$', name):
                points = 1 / value.double()
                if not torch.allclose(points, points[:1]):
                    raise ValueError(f'{key}: points per level {points.round().tolist()} differ; '
                                     "mmcv's MultiScaleDeformableAttention takes one number")
            elif name.startswith('decoder.layers.'):
                layer, rest = re.fullmatch(r'decoder\.layers\.(\d+)\.(.+)', name).groups()
                put(f'decoder.layers.{layer}.' + _rename_layer(rest, _DECODER_LAYER), value, key)
            elif re.match(r'(decoder\.)?class_embed\.', name):  # tied: both names may be stored
                index, param = re.search(r'class_embed\.(\d+)\.(.+)', name).groups()
                put(f'bbox_head.cls_branches.{index}.{param}', value, key)
            elif re.match(r'(decoder\.)?bbox_embed\.', name):
                index, rest = re.search(r'bbox_embed\.(\d+)\.(.+)', name).groups()
                put(f'bbox_head.reg_branches.{index}.' + _mlp(rest), value, key)
            elif name == 'denoising_class_embed.weight':
                # its last row embeds padding; mmdet's denoising queries pad with zeros instead
                put('dn_query_generator.label_embedding.weight', value[:-1], key)
            else:
                unknown.append(key)
        except (KeyError, AttributeError):  # a rename table or a pattern that does not fit
            unknown.append(key)
    for prefix, parts in qkv.items():
        if set(parts) != set(_QKV):
            raise KeyError(f'{prefix}: the checkpoint has {sorted(parts)} of {list(_QKV)}')
        out[prefix] = torch.cat([parts[p] for p in _QKV])
    if unknown:
        raise KeyError(f'{len(unknown)} keys of the checkpoint have no place in RT-DETR\'s mmdet '
                       f'layout (a learnt initial query, extra feature levels?): {unknown[:8]}')
    return out, backbone


def _require(config: Mapping, key: str, allowed, default) -> None:
    value = config.get(key, default)
    if value not in allowed:
        raise ValueError(f'transformers config {key}={value!r}: this RT-DETR takes {allowed}')


def model_settings_from_hf(config: Mapping) -> dict:
    """The model settings of an :class:`RTDETR` config that carry the weights of a transformers
    ``RTDetrV2Config`` (its ``config.json`` as a dict), to merge over one of ``configs/rtdetr/``:
    ``neck`` (but ``in_channels``, the backbone's), ``decoder``, ``bbox_head`` and ``num_queries``.

    Raises:
        ValueError: settings this implementation does not have (naming them and what it takes).
    """
    _require(config, 'decoder_method', ['default'], 'default')
    _require(config, 'decoder_offset_scale', [0.5], 0.5)
    _require(config, 'normalize_before', [False], False)
    _require(config, 'learn_initial_query', [False], False)
    _require(config, 'decoder_activation_function', ['relu'], 'relu')
    _require(config, 'activation_function', ['silu'], 'silu')
    _require(config, 'encoder_activation_function', ['gelu'], 'gelu')
    levels = len(config.get('decoder_in_channels', [256] * 3))
    _require(config, 'num_feature_levels', [levels], 3)
    _require(config, 'decoder_n_levels', [levels], 3)
    hidden = config.get('encoder_hidden_dim', 256)
    d_model = config.get('d_model', 256)
    heads = config.get('decoder_attention_heads', 8)
    return dict(
        num_queries=config.get('num_queries', 300),
        num_feature_levels=levels,
        neck=dict(
            embed_dims=hidden,
            out_channels=d_model,
            use_encoder_idx=list(config.get('encode_proj_layers', [2])),
            encoder=dict(
                num_layers=config.get('encoder_layers', 1),
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=hidden,
                                       num_heads=config.get('encoder_attention_heads', 8),
                                       dropout=config.get('dropout', 0.0)),
                    ffn_cfg=dict(embed_dims=hidden,
                                 feedforward_channels=config.get('encoder_ffn_dim', 1024),
                                 ffn_drop=config.get('dropout', 0.0),
                                 act_cfg=dict(type='GELU')))),
            pe_temperature=config.get('positional_encoding_temperature', 10000),
            expansion=config.get('hidden_expansion', 1.0)),
        decoder=dict(
            num_layers=config.get('decoder_layers', 6),
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=d_model, num_heads=heads,
                                   dropout=config.get('attention_dropout', 0.0)),
                cross_attn_cfg=dict(embed_dims=d_model, num_heads=heads, num_levels=levels,
                                    num_points=config.get('decoder_n_points', 4),
                                    dropout=config.get('dropout', 0.0)),
                ffn_cfg=dict(embed_dims=d_model,
                             feedforward_channels=config.get('decoder_ffn_dim', 1024),
                             ffn_drop=config.get('dropout', 0.0)))),
        bbox_head=dict(num_classes=len(config['id2label']) if 'id2label' in config
                       else config.get('num_labels', 80), embed_dims=d_model))


def _hf_files(src: str) -> Tuple[str, Optional[str]]:
    """The weights file and the ``config.json`` (or None) of a model folder or a weights file."""
    if os.path.isdir(src):
        weights = [os.path.join(src, name) for name in HF_WEIGHTS_FILES
                   if os.path.isfile(os.path.join(src, name))]
        if not weights:
            raise FileNotFoundError(f'{src} holds none of {list(HF_WEIGHTS_FILES)}: not a '
                                    'transformers model folder (sharded checkpoints are not read)')
        folder, path = src, weights[0]
    else:
        folder, path = os.path.dirname(src), src
    config = os.path.join(folder, 'config.json')
    return path, config if os.path.isfile(config) else None


def convert_hf_rtdetr_v2_file(src: str, dst: str) -> dict:
    """Convert a transformers RT-DETRv2 checkpoint to an mmengine checkpoint at ``dst``.

    Args:
        src: a transformers model folder (``config.json`` and ``model.safetensors`` or
            ``pytorch_model.bin``, as ``save_pretrained`` and the hub lay them out) or a weights file.
        dst: the mmengine checkpoint to write (``state_dict`` of plain tensors, ``meta``).

    Returns:
        The written checkpoint; ``meta`` holds the source, the backbone keys left out and, where a
        ``config.json`` is found, the model settings (:func:`model_settings_from_hf`) the weights
        need in the mmdet config.
    """
    path, config_path = _hf_files(os.path.expanduser(src))
    if os.path.exists(dst) and os.path.samefile(path, dst):
        raise ValueError(f'the output {dst} is the input checkpoint itself; write the converted '
                         'checkpoint to another file')
    state, backbone = convert_hf_rtdetr_v2(read_checkpoint(path))
    check_finite(state, path)
    meta = dict(source=str(src), source_format='transformers RTDetrV2ForObjectDetection',
                backbone_keys_left_out=len(backbone))
    if config_path is not None:
        with open(config_path, encoding='utf-8') as f:
            meta['model_settings'] = model_settings_from_hf(json.load(f))
    checkpoint = dict(state_dict={k: v.contiguous() for k, v in state.items()}, meta=meta)
    with atomic_open(dst) as f:
        torch.save(checkpoint, f)
    return checkpoint
