"""PaddleClas's published PP-HGNetV2 weights and metrics: the one table the model, the metafile and the
benchmark read; and the names other ports publish weights under (D-FINE's and RT-DETR's releases,
timm's tags, Hugging Face model ids), with their URLs.

Top-1/top-5 are ImageNet-1k val accuracies of the SSLD stage-2 weights; latency is PaddleClas's
V100, TensorRT 8.5 FP32, batch 1 (docs/zh_CN/models/ImageNet1k/PP-HGNetV2.md, PaddleClas 2.6).
"""
import os
from typing import Dict, List, NamedTuple, Optional

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
