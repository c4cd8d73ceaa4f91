"""Hugging Face ``transformers`` D-FINE checkpoints (``DFineForObjectDetection``) in this package's
mmdet D-FINE layout (:class:`hgnet_backbones.models.dfine.DFINE`), backbone included, and the model
settings a transformers ``DFineConfig`` implies. D-FINE's own release files are first renamed to
transformers' keys, then go through :func:`convert_dfine_transformers`. Nothing here imports mmdet or
transformers."""
import re
from typing import Dict, List, Mapping

import torch

from .backbone import convert_state_dict
from .rtdetr import _ENCODER_LAYER, _QKV, _conv_norm, _mlp, _rename_layer, _require, \
    num_decoder_layers

# (pattern, replacement) on a key inside a D-FINE decoder layer
_DECODER_LAYER = [
    (r'self_attn\.out_proj\.', 'self_attn.attn.out_proj.'),
    (r'self_attn_layer_norm\.', 'norms.0.'),
    (r'encoder_attn\.(sampling_offsets|attention_weights)\.', r'cross_attn.\1.'),
    (r'gateway\.', 'gateway.'),
    (r'fc1\.', 'ffn.layers.0.0.'),
    (r'fc2\.', 'ffn.layers.1.'),
    (r'final_layer_norm\.', 'norms.1.'),
]
_BACKBONE_PREFIX = 'model.backbone.'


def _convert_key(name: str, num_layers: int) -> str:
    """Our key for a transformers key without its leading 'model.'; KeyError where it has none."""
    if name.startswith('encoder_input_proj.'):
        return 'neck.in_projs.' + _conv_norm(name[len('encoder_input_proj.'):])
    if name.startswith('decoder_input_proj.'):
        return 'neck.out_projs.' + _conv_norm(name[len('decoder_input_proj.'):])
    if name.startswith('encoder.encoder.'):
        index, layer, rest = re.fullmatch(r'encoder\.encoder\.(\d+)\.layers\.(\d+)\.(.+)',
                                          name).groups()
        return f'neck.aifi.{index}.layers.{layer}.' + _rename_layer(rest, _ENCODER_LAYER)
    if re.match(r'encoder\.(lateral_convs|downsample_convs|fpn_blocks|pan_blocks)\.', name):
        return 'neck.' + name[len('encoder.'):].replace('.norm.', '.bn.')
    if name.startswith('enc_output.'):
        index, param = re.fullmatch(r'enc_output\.([01])\.(.+)', name).groups()
        return ('memory_trans_fc.' if index == '0' else 'memory_trans_norm.') + param
    if name.startswith('enc_score_head.'):
        return f'bbox_head.cls_branches.{num_layers}.' + name[len('enc_score_head.'):]
    if name.startswith('enc_bbox_head.'):
        return f'bbox_head.reg_branches.{num_layers}.' + _mlp(name[len('enc_bbox_head.'):])
    if re.match(r'decoder\.(query_pos_head|pre_bbox_head)\.layers\.\d+\.', name) or \
            name in ('decoder.up', 'decoder.reg_scale'):
        return name
    if name.startswith('decoder.lqe_layers.'):
        return 'bbox_head.lqe_layers.' + name[len('decoder.lqe_layers.'):]
    if name.startswith('decoder.layers.'):
        layer, rest = re.fullmatch(r'decoder\.layers\.(\d+)\.(.+)', name).groups()
        return f'decoder.layers.{layer}.' + _rename_layer(rest, _DECODER_LAYER)
    if re.match(r'(decoder\.)?class_embed\.', name):  # tied: both names may be stored
        index, param = re.search(r'class_embed\.(\d+)\.(.+)', name).groups()
        return f'bbox_head.cls_branches.{index}.{param}'
    if re.match(r'(decoder\.)?bbox_embed\.', name):
        index, rest = re.search(r'bbox_embed\.(\d+)\.(.+)', name).groups()
        return f'bbox_head.reg_branches.{index}.' + _mlp(rest)
    raise KeyError(name)


def convert_dfine_transformers(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Convert a ``DFineForObjectDetection`` state dict (transformers' keys, HGNetV2 backbone) to the
    keys of :class:`~hgnet_backbones.models.dfine.DFINE`: ``backbone.*`` (through the backbone
    converter), ``neck.*``, ``memory_trans_*``, ``decoder.*``, ``bbox_head.*`` and
    ``dn_query_generator.*``. ``decoder.reg_scale`` becomes floating point (D-FINE's release stores
    it as an integer); each deformable attention's ``num_points_scale``, which its points per level
    determine, is checked against the other layers' and left out (:func:`dfine_num_points`).

    Raises:
        KeyError: keys this layout does not know (naming them), e.g. a learnt initial query.
        ValueError: two keys giving one weight different values, or layers whose points differ.
    """
    num_layers = num_decoder_layers(state_dict)
    out: Dict[str, torch.Tensor] = {}
    unknown: List[str] = []
    qkv: Dict[str, Dict[str, torch.Tensor]] = {}
    points_scale = None

    def put(key: str, value: torch.Tensor, source: str) -> None:
        if key in out and not torch.equal(out[key], value):
            raise ValueError(f'{source} and another key both give {key}, with different values')
        out[key] = value

    backbone = {k: v for k, v in state_dict.items() if k.startswith(_BACKBONE_PREFIX)}
    if not backbone:
        raise KeyError(f'no {_BACKBONE_PREFIX}* keys: not a transformers D-FINE checkpoint with its '
                       'backbone')
    for key, value in convert_state_dict(backbone).items():
        if not key.startswith('backbone.'):
            raise KeyError(f'{key}: a backbone key the HGNetV2 converter does not place')
        out[key] = value
    for key, value in state_dict.items():
        if key.startswith(_BACKBONE_PREFIX):
            continue
        name = key[len('model.'):] if key.startswith('model.') else key
        m = re.fullmatch(r'(?:(encoder\.encoder\.(\d+))|decoder)\.layers\.(\d+)\.self_attn\.'
                         r'([qkv]_proj)\.(weight|bias)', name)
        if m:
            prefix = (f'neck.aifi.{m.group(2)}' if m.group(1) else 'decoder') + \
                f'.layers.{m.group(3)}.self_attn.attn.in_proj_{m.group(5)}'
            qkv.setdefault(prefix, {})[m.group(4)] = value
            continue
        if re.fullmatch(r'decoder\.layers\.\d+\.encoder_attn\.num_points_scale', name):
            if points_scale is not None and not torch.equal(points_scale, value):
                raise ValueError(f'{key}: points per level differ between decoder layers')
            points_scale = value
            continue
        if name == 'denoising_class_embed.weight':
            # its last row embeds padding; mmdet's denoising queries pad with zeros instead
            put('dn_query_generator.label_embedding.weight', value[:-1], key)
            continue
        try:
            new_key = _convert_key(name, num_layers)
        except (KeyError, AttributeError):  # a rename table or a pattern that does not fit
            unknown.append(key)
            continue
        put(new_key, value.double() if new_key == 'decoder.reg_scale' and not value.is_floating_point()
            else value, key)
    for prefix, parts in qkv.items():
        if set(parts) != set(_QKV):
            raise KeyError(f'{prefix}: the checkpoint has {sorted(parts)} of {list(_QKV)}')
        out[prefix] = torch.cat([parts[p] for p in _QKV])
    if unknown:
        raise KeyError(f"{len(unknown)} keys of the checkpoint have no place in D-FINE's mmdet "
                       f'layout (a learnt initial query, extra feature levels?): {unknown[:8]}')
    return out


def dfine_num_points(config: Mapping) -> List[int]:
    """The sampling points on each level of a transformers ``DFineConfig`` (its ``config.json`` as a
    dict): ``decoder_n_points``, a list or one number for every level."""
    levels = config.get('num_feature_levels', 3)
    points = config.get('decoder_n_points', 4)
    points = list(points) if isinstance(points, (list, tuple)) else [points] * levels
    if len(points) != levels:
        raise ValueError(f'transformers config decoder_n_points={points} names {len(points)} '
                         f'levels, num_feature_levels={levels}')
    return points


def model_settings_from_dfine_config(config: Mapping) -> dict:
    """The model settings of a :class:`DFINE` config that carry the weights of a transformers
    ``DFineConfig`` (its ``config.json`` as a dict), to merge over one of ``configs/dfine/``:
    ``num_queries``, ``num_feature_levels``, ``neck`` (but ``in_channels``, the backbone's),
    ``decoder`` and ``bbox_head``.

    Raises:
        ValueError: settings this implementation does not have (naming them and what it takes).
    """
    _require(config, 'decoder_method', ['default'], 'default')
    _require(config, 'normalize_before', [False], False)
    _require(config, 'learn_initial_query', [False], False)
    _require(config, 'decoder_activation_function', ['relu'], 'relu')
    _require(config, 'activation_function', ['silu'], 'silu')
    _require(config, 'encoder_activation_function', ['gelu'], 'gelu')
    levels = len(config.get('decoder_in_channels', [256] * 3))
    _require(config, 'num_feature_levels', [levels], 3)
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
            expansion=config.get('hidden_expansion', 1.0),
            num_csp_blocks=round(3 * config.get('depth_mult', 1.0))),
        decoder=dict(
            num_layers=config.get('decoder_layers', 6),
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=d_model, num_heads=heads,
                                   dropout=config.get('attention_dropout', 0.0)),
                cross_attn_cfg=dict(embed_dims=d_model, num_heads=heads,
                                    num_points=dfine_num_points(config),
                                    offset_scale=config.get('decoder_offset_scale', 0.5)),
                ffn_cfg=dict(embed_dims=d_model,
                             feedforward_channels=config.get('decoder_ffn_dim', 1024),
                             ffn_drop=config.get('dropout', 0.0))),
            reg_max=config.get('max_num_bins', 32),
            reg_scale=float(config.get('reg_scale', 4.0)),
            up=float(config.get('up', 0.5)),
            eval_idx=config.get('eval_idx', -1),
            layer_scale=config.get('layer_scale', 1)),
        bbox_head=dict(
            num_classes=len(config['id2label']) if 'id2label' in config
            else config.get('num_labels', 80),
            embed_dims=d_model,
            lqe_cfg=dict(top_k=config.get('top_prob_values', 4),
                         hidden_dims=config.get('lqe_hidden_dim', 64),
                         num_layers=config.get('lqe_layers', 2))))
