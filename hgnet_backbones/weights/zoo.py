"""PaddleClas's published PP-HGNetV2 weights and metrics: the one table the model, the metafile and the
benchmark read; and the names other ports publish weights under (D-FINE's and RT-DETR's releases,
timm's tags, Hugging Face model ids), with their URLs.

Top-1/top-5 are ImageNet-1k val accuracies of the SSLD stage-2 weights; latency is PaddleClas's
V100, TensorRT 8.5 FP32, batch 1 (docs/zh_CN/models/ImageNet1k/PP-HGNetV2.md, PaddleClas 2.6).
"""
import os
from typing import Dict, List, NamedTuple, Optional

from ..fileio import write_text
from ..models.hgnetv2 import HGNetV2
from ..models.ports import DFINE_RELEASE, RTDETR_RELEASE

PADDLECLAS_WEIGHTS_URL = 'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/'
# A mirror of PaddleClas's weight folder (same file names) replaces it when this variable is set,
# for the short names and for URLs under that folder alike.
WEIGHTS_MIRROR_ENV = 'HGNET_WEIGHTS_MIRROR'
DFINE_WEIGHTS_URL = 'https://github.com/Peterande/storage/releases/download/dfinev1.0/'
RTDETR_WEIGHTS_URL = 'https://github.com/lyuwenyu/storage/releases/download/v0.1/'
HF_URL = 'https://huggingface.co/'
# Each host's folder and the variable naming a mirror that holds the same paths (HF_ENDPOINT is
# huggingface_hub's own, e.g. https://hf-mirror.com): see mirrored().
WEIGHT_HOSTS = {PADDLECLAS_WEIGHTS_URL: WEIGHTS_MIRROR_ENV, DFINE_WEIGHTS_URL: 'HGNET_DFINE_MIRROR',
                RTDETR_WEIGHTS_URL: 'HGNET_RTDETR_MIRROR', HF_URL: 'HF_ENDPOINT'}
HF_HUB_PREFIX = 'hf-hub:'  # timm's spelling of a Hugging Face model id: hf-hub:<org>/<model>

WEIGHT_FILES = {
    # stage-1: distilled on ImageNet-1k + 22k mined data; PaddleClas recommends it for downstream tasks
    'ssld_stage1': 'PPHGNetV2_{arch}_ssld_stage1_pretrained.pdparams',
    # stage-2: stage-1 distillation fine-tuned on ImageNet-1k; the published accuracies are of these
    'ssld_stage2': 'PPHGNetV2_{arch}_ssld_pretrained.pdparams',
}

MODEL_ZOO = {
    'B0': dict(top1=77.77, top5=93.91, v100_trt_fp32_ms=0.52),
    'B1': dict(top1=79.18, top5=94.57, v100_trt_fp32_ms=0.58),
    'B2': dict(top1=81.74, top5=95.88, v100_trt_fp32_ms=0.95),
    'B3': dict(top1=82.98, top5=96.43, v100_trt_fp32_ms=1.18),
    'B4': dict(top1=83.57, top5=96.72, v100_trt_fp32_ms=1.46),
    'B5': dict(top1=84.75, top5=97.32, v100_trt_fp32_ms=2.84),
    'B6': dict(top1=86.30, top5=97.84, v100_trt_fp32_ms=5.29),
}


def official_weights_url(arch: str, weights: str) -> str:
    """The URL of PaddleClas's published ``weights`` ('ssld_stage1' or 'ssld_stage2') for ``arch``
    (:func:`mirrored` may replace its folder)."""
    if not isinstance(arch, str) or arch.upper() not in MODEL_ZOO:
        raise ValueError(f'No published PP-HGNetV2 weights for arch {arch!r}; '
                         f'published: {sorted(MODEL_ZOO)}')
    arch = arch.upper()
    if weights not in WEIGHT_FILES:
        raise ValueError(f'Unknown weights name {weights!r}; choose one of {sorted(WEIGHT_FILES)}')
    return PADDLECLAS_WEIGHTS_URL + WEIGHT_FILES[weights].format(arch=arch)


def mirrored(url: str) -> str:
    """``url`` under the mirror of its host's folder (:data:`WEIGHT_HOSTS`) where that host's variable
    is set, e.g. under ``$HGNET_WEIGHTS_MIRROR`` instead of PaddleClas's folder."""
    for folder, mirror_env in WEIGHT_HOSTS.items():
        mirror = os.environ.get(mirror_env)
        if mirror and url.startswith(folder):
            return mirror.rstrip('/') + '/' + url[len(folder):]
    return url


def hf_url(model_id: str) -> str:
    """The weights file of a Hugging Face model (transformers and timm both write model.safetensors)."""
    return f'{HF_URL}{model_id}/resolve/main/model.safetensors'


class PortWeights(NamedTuple):
    """Weights another port publishes: their URL and the arch they are of (None: unknown)."""
    url: str
    arch: Optional[str]


# timm's pretrained tags of hgnetv2_b*: the first is timm's default (a bare 'hgnetv2_b4')
TIMM_TAGS = ('ssld_stage2_ft_in1k', 'ssld_stage1_in22k_in1k')
# D-FINE's detectors on the Hugging Face Hub (transformers' DFineForObjectDetection), by backbone
DFINE_HF_MODELS = {
    'B0': ('dfine-nano-coco', 'dfine-small-coco', 'dfine-small-obj365', 'dfine-small-obj2coco'),
    'B2': ('dfine-medium-coco', 'dfine-medium-obj365', 'dfine-medium-obj2coco'),
    'B4': ('dfine-large-coco', 'dfine-large-obj365', 'dfine-large-obj2coco-e25'),
    'B5': ('dfine-xlarge-coco', 'dfine-xlarge-obj365', 'dfine-xlarge-obj2coco'),
}


def _port_weights() -> Dict[str, PortWeights]:
    names = {}
    releases = [(DFINE_WEIGHTS_URL, DFINE_RELEASE.format(arch), arch) for arch in MODEL_ZOO] + \
        [(RTDETR_WEIGHTS_URL, RTDETR_RELEASE.format(size), arch)
         for size, arch in HGNetV2.arch_aliases.items()]
    for folder, release, arch in releases:
        names[release] = names[f'{release}.pth'] = PortWeights(f'{folder}{release}.pth', arch)
    for arch in MODEL_ZOO:
        model = f'hgnetv2_{arch.lower()}'
        for tag in TIMM_TAGS:
            weights = PortWeights(hf_url(f'timm/{model}.{tag}'), arch)
            names[f'{model}.{tag}'] = names[f'timm/{model}.{tag}'] = weights
            names.setdefault(model, weights)
    for arch, models in DFINE_HF_MODELS.items():
        for model in models:
            names[f'ustc-community/{model}'] = PortWeights(hf_url(f'ustc-community/{model}'), arch)
    return names


# every name of another port's weights (a release's name with or without .pth, a timm tag, a
# Hugging Face model id) -> where they are and their arch
PORT_WEIGHTS = _port_weights()


def port_weights(name: str) -> Optional[PortWeights]:
    """Another port's weights called ``name`` (:data:`PORT_WEIGHTS` or 'hf-hub:<model id>'), or None."""
    if name.startswith(HF_HUB_PREFIX):
        return PortWeights(hf_url(name[len(HF_HUB_PREFIX):]), None)
    return PORT_WEIGHTS.get(name)


def known_weight_names() -> List[str]:
    """The weights names a checkpoint source may be, by family, for error messages."""
    archs = list(MODEL_ZOO)
    return [f"{', '.join(WEIGHT_FILES)} (PaddleClas's, of the backbone's arch)",
            f'paddleclas://{archs[0]}..{archs[-1]}/<{"|".join(WEIGHT_FILES)}>',
            f"D-FINE's {DFINE_RELEASE.format(archs[0])} .. {DFINE_RELEASE.format(archs[-1])}",
            f"RT-DETR's {RTDETR_RELEASE.format('<' + '|'.join(HGNetV2.arch_aliases) + '>')}",
            f"timm's [timm/]hgnetv2_{archs[0].lower()}..{archs[-1].lower()}[.<{'|'.join(TIMM_TAGS)}>]",
            f"Hugging Face's ustc-community/<{'|'.join(sum(DFINE_HF_MODELS.values(), ()))}>",
            f'{HF_HUB_PREFIX}<Hugging Face model id>']


PADDLECLAS_CODE_URL = ('https://github.com/PaddlePaddle/PaddleClas/blob/release/2.6/ppcls/arch/'
                       'backbone/legendary_models/pp_hgnet_v2.py')
COLLECTION = 'HGNetV2'


def metafile(sizes: dict) -> dict:
    """mmpretrain's metafile for the converted PaddleClas weights; ``sizes`` maps each arch to the
    full classifier's ``{'params': int, 'flops': int}`` at 224x224 (measured, not copied)."""
    models = []
    for arch, metrics in MODEL_ZOO.items():
        variant = arch.lower()
        for weights, config, results in (
                ('ssld_stage2', f'hgnetv2-{variant}_3rdparty-ssld-stage2_in1k.py', [dict(
                    Task='Image Classification', Dataset='ImageNet-1k',
                    Metrics={'Top 1 Accuracy': metrics['top1'], 'Top 5 Accuracy': metrics['top5']})]),
                ('ssld_stage1', f'hgnetv2-{variant}_ssld-stage1-pre_8xb128-30e_in1k.py', None)):
            url = official_weights_url(arch, weights)
            entry = dict(
                Name=f'hgnetv2-{variant}_3rdparty-{weights.replace("_", "-")}_in1k',
                Metadata=dict(FLOPs=sizes[arch]['flops'], Parameters=sizes[arch]['params'],
                              **{'Training Data': ['ImageNet-1k', 'ImageNet-22k'] if weights ==
                                 'ssld_stage1' else ['ImageNet-1k']}),
                **{'In Collection': COLLECTION})
            if results:
                entry['Results'] = results
            entry.update(Weights=url, Config=f'configs/hgnetv2/{config}',
                         **{'Converted From': dict(Weights=url, Code=PADDLECLAS_CODE_URL)})
            models.append(entry)
    collection = dict(
        Name=COLLECTION,
        Metadata={'Training Data': 'ImageNet-1k',
                  'Architecture': ['HG Block', 'Depthwise Convolution', 'Learnable Affine Block',
                                   'SSLD Knowledge Distillation']},
        Paper=dict(Title='PP-HGNetV2 (PaddleClas)',
                   URL='https://github.com/PaddlePaddle/PaddleClas/blob/release/2.6/docs/zh_CN/'
                       'models/ImageNet1k/PP-HGNetV2.md'),
        README='configs/hgnetv2/README.md',
        Code=dict(URL='hgnet_backbones/models/hgnetv2.py'))
    return dict(Collections=[collection], Models=models)


def write_metafile(path: str, sizes: dict) -> None:
    """Write :func:`metafile` as YAML to ``path`` (atomically)."""
    import yaml
    write_text(path, yaml.safe_dump(metafile(sizes), sort_keys=False, width=100))


# The detection and segmentation config folders: no trained weights are published for them (their
# backbones start from PaddleClas's SSLD stage-1 weights), so their metafiles list each config with its
# architecture, training data and measured size, without results. FLOPs are measured at ``flops_input``
# (height, width): mmdet's 1333x800 test scale padded to 32, RTMDet's 640x640, the segmentation crops;
# None where the model's tensor-mode forward cannot run on an image alone (mmseg's Mask2Former head
# needs data samples its ``EncoderDecoder._forward`` does not pass).
DOWNSTREAM_COLLECTIONS = {
    'retinanet': dict(name='RetinaNet', task='Object Detection', dataset='COCO', flops_input=(800, 1344),
                      paper=('Focal Loss for Dense Object Detection', 'https://arxiv.org/abs/1708.02002')),
    'faster_rcnn': dict(name='Faster R-CNN', task='Object Detection', dataset='COCO',
                        flops_input=(800, 1344),
                        paper=('Faster R-CNN: Towards Real-Time Object Detection with Region Proposal '
                               'Networks', 'https://arxiv.org/abs/1506.01497')),
    'mask_rcnn': dict(name='Mask R-CNN', task='Instance Segmentation', dataset='COCO',
                      flops_input=(800, 1344), paper=('Mask R-CNN', 'https://arxiv.org/abs/1703.06870')),
    'rtmdet': dict(name='RTMDet', task='Object Detection', dataset='COCO', flops_input=(640, 640),
                   paper=('RTMDet: An Empirical Study of Designing Real-Time Object Detectors',
                          'https://arxiv.org/abs/2212.07784')),
    'dino': dict(name='DINO', task='Object Detection', dataset='COCO', flops_input=(800, 1344),
                 paper=('DINO: DETR with Improved DeNoising Anchor Boxes for End-to-End Object Detection',
                        'https://arxiv.org/abs/2203.03605')),
    'rtdetr': dict(name='RT-DETR', task='Object Detection', dataset='COCO', flops_input=(640, 640),
                   paper=('DETRs Beat YOLOs on Real-time Object Detection',
                          'https://arxiv.org/abs/2304.08069')),
    'upernet': dict(name='UPerNet', task='Semantic Segmentation', dataset='ADE20K', flops_input=(512, 512),
                    paper=('Unified Perceptual Parsing for Scene Understanding',
                           'https://arxiv.org/abs/1807.10221')),
    'deeplabv3plus': dict(name='DeepLabV3+', task='Semantic Segmentation', dataset='Cityscapes',
                          flops_input=(512, 1024),
                          paper=('Encoder-Decoder with Atrous Separable Convolution for Semantic Image '
                                 'Segmentation', 'https://arxiv.org/abs/1802.02611')),
    'mask2former': dict(name='Mask2Former', task='Semantic Segmentation', dataset='ADE20K',
                        flops_input=None,
                        paper=('Masked-attention Mask Transformer for Universal Image Segmentation',
                               'https://arxiv.org/abs/2112.01527')),
}
CODEBASE_OF_TASK = {'Object Detection': 'mmdet', 'Instance Segmentation': 'mmdet',
                    'Semantic Segmentation': 'mmseg'}


def downstream_metafile(folder: str, sizes: dict) -> dict:
    """The metafile of a detection or segmentation config folder (a key of
    :data:`DOWNSTREAM_COLLECTIONS`); ``sizes`` maps each config file name to its model's measured
    ``{'params': int, 'flops': int or None}``."""
    info = DOWNSTREAM_COLLECTIONS[folder]
    models = []
    for config, size in sizes.items():
        metadata = {'Parameters': size['params'], 'Training Data': info['dataset']}
        if size['flops'] is not None:
            metadata['FLOPs'] = size['flops']
        models.append({'Name': config[:-len('.py')], 'In Collection': info['name'],
                       'Metadata': metadata, 'Config': f'configs/{folder}/{config}'})
    collection = dict(Name=info['name'], Metadata={'Training Data': info['dataset'],
                                                   'Architecture': [info['name'], COLLECTION]},
                      Paper=dict(Title=info['paper'][0], URL=info['paper'][1]),
                      README=f'configs/{folder}/README.md')
    return dict(Collections=[collection], Models=models)


def _size_cells(size: dict) -> str:
    flops = '-' if size['flops'] is None else f"{size['flops'] / 1e9:.2f}"
    return f"{size['params'] / 1e6:.2f} | {flops}"


def _usage(folder: str, config: str) -> str:
    name = config[:-len('.py')]
    return (f'    tools/env.sh python tools/train.py configs/{folder}/{config}\n'
            f'    tools/env.sh tools/dist_train.sh configs/{folder}/{config} 8\n'
            f'    tools/env.sh tools/slurm_train.sh PARTITION {name} configs/{folder}/{config} '
            f'work_dirs/{name}\n'
            f'    tools/env.sh python tools/test.py configs/{folder}/{config} CHECKPOINT '
            '[--out preds.pkl] [--show-dir DIR] [--tta]\n'
            f'    tools/env.sh tools/dist_test.sh configs/{folder}/{config} CHECKPOINT 8\n'
            f'    tools/env.sh python tools/infer.py IMAGE configs/{folder}/{config} CHECKPOINT '
            '[--out-dir DIR]\n')


def _tiny_note(configs) -> str:
    return ''.join(f'\n`{config}` trains on the tiny CPU set of the top-level README.\n'
                   for config in configs)


_LR_NOTE = {
    'mmdet': ("\nThe learning rate is mmdet's for the global batch of `auto_scale_lr.base_batch_size`; "
              '`tools/train.py --auto-scale-lr` scales it linearly to the global batch of the run.\n'),
    'mmseg': '',
}
GENERATED_NOTE = '<!-- generated by tools/make_metafile.py from hgnet_backbones/weights/zoo.py -->\n'


def downstream_readme(folder: str, sizes: dict, other_configs=()) -> str:
    """The README of a detection or segmentation config folder, from the same data as its metafile;
    ``other_configs`` are the folder's configs outside the metafile (for the tiny sets)."""
    info = DOWNSTREAM_COLLECTIONS[folder]
    codebase = CODEBASE_OF_TASK[info['task']]
    if info['flops_input'] is None:
        where = 'not measured: the head needs data samples that the tensor-mode forward does not pass'
    else:
        where = 'at {}x{} (height x width)'.format(*info['flops_input'])
    rows = '\n'.join(f'| `{config}` | {_size_cells(size)} |'
                     for config, size in sizes.items())
    tiny = _tiny_note(other_configs)
    return (
        f'{GENERATED_NOTE}# {info["name"]} with HGNetV2 ({codebase})\n\n'
        f'[{info["paper"][0]}]({info["paper"][1]}), with PaddleClas\'s PP-HGNetV2 as the backbone: '
        f'{info["task"].lower()} on {info["dataset"]}, {codebase}\'s own recipe with the backbone '
        'swapped (see `configs/_base_/`).\n\n'
        f'| config | params (M) | GFLOPs |\n|---|---|---|\n{rows}\n\n'
        f'FLOPs (one multiply-add counted as one) {where}; parameters and FLOPs are measured on the '
        'built models by `tools/make_metafile.py`, which writes this file and `metafile.yml`.\n'
        f'{tiny}\n## Weights\n\n'
        'No trained weights are published for these configs. The backbone starts from PaddleClas\'s '
        'SSLD stage-1 weights of its arch (`init_cfg=dict(type=\'Pretrained\', '
        'checkpoint=\'ssld_stage1\')`, downloaded once); the ImageNet accuracy of PaddleClas\'s '
        'weights, with its source, is in `configs/hgnetv2/README.md`.\n\n'
        f'## Usage\n\n{_usage(folder, next(iter(sizes)))}{_LR_NOTE[codebase]}')


def classification_readme(sizes: dict, other_configs=()) -> str:
    """``configs/hgnetv2/README.md``: the variants with their measured sizes (``sizes`` as for
    :func:`metafile`) and PaddleClas's published accuracy of the converted weights, with its source."""
    rows = '\n'.join(
        f'| {arch} | {sizes[arch]["params"] / 1e6:.2f} | {sizes[arch]["flops"] / 1e9:.2f} | '
        f'{m["top1"]:.2f} | {m["top5"]:.2f} | `hgnetv2-{arch.lower()}_3rdparty-ssld-stage2_in1k.py` | '
        f'[stage 2]({official_weights_url(arch, "ssld_stage2")}), '
        f'[stage 1]({official_weights_url(arch, "ssld_stage1")}) |'
        for arch, m in MODEL_ZOO.items())
    tiny = _tiny_note(other_configs)
    paper = metafile(sizes)['Collections'][0]['Paper']
    return (
        f'{GENERATED_NOTE}# HGNetV2 (mmpretrain)\n\n'
        f'PaddleClas\'s PP-HGNetV2 B0-B6 ([{paper["Title"]}]({paper["URL"]})) on ImageNet-1k, with '
        'its classification head, converted from PaddleClas\'s weights without loss '
        f'([code]({PADDLECLAS_CODE_URL})).\n\n'
        '| arch | params (M) | GFLOPs | top-1 | top-5 | config | PaddleClas weights |\n'
        f'|---|---|---|---|---|---|---|\n{rows}\n\n'
        'Top-1/top-5: ImageNet-1k val accuracy of the SSLD stage-2 weights as PaddleClas publishes it '
        f'([PP-HGNetV2.md]({paper["URL"]})), which the `3rdparty-ssld-stage2` configs evaluate '
        '(`load_from=\'paddleclas://B*/ssld_stage2\'`). Parameters and FLOPs (224x224, one '
        'multiply-add counted as one) are measured on the full classifiers by '
        '`tools/make_metafile.py`, which writes this file and `metafile.yml`.\n\n'
        '## Configs\n\n'
        '- `hgnetv2-b*_8xb128_in1k.py`: PaddleClas\'s ImageNet recipe (lr 0.5 for a global batch of '
        '1024, scaled to the run\'s global batch by mmengine\'s `auto_scale_lr`).\n'
        '- `hgnetv2-b*_ssld-stage1-pre_8xb128-30e_in1k.py`: fine-tuning from the SSLD stage-1 '
        'weights, 30 epochs.\n'
        '- `hgnetv2-b*_3rdparty-ssld-stage2_in1k.py`: evaluation of the converted stage-2 weights.\n'
        f'{tiny}\n## Usage\n\n{_usage("hgnetv2", "hgnetv2-b0_8xb128_in1k.py")}')
