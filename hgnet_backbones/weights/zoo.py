"""PaddleClas's published PP-HGNetV2 weights and metrics: the one table the model, the metafile and the
benchmark read.

Top-1/top-5 are ImageNet-1k val accuracies of the SSLD stage-2 weights; latency is PaddleClas's
V100, TensorRT 8.5 FP32, batch 1 (docs/zh_CN/models/ImageNet1k/PP-HGNetV2.md, PaddleClas 2.6).
"""
import os

from ..fileio import write_text

PADDLECLAS_WEIGHTS_URL = 'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/'
# A mirror of PaddleClas's weight folder (same file names) replaces it when this variable is set,
# for the short names and for URLs under that folder alike.
WEIGHTS_MIRROR_ENV = 'HGNET_WEIGHTS_MIRROR'

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
    """``url`` under ``$HGNET_WEIGHTS_MIRROR`` instead of PaddleClas's folder, where both are so."""
    mirror = os.environ.get(WEIGHTS_MIRROR_ENV)
    if mirror and url.startswith(PADDLECLAS_WEIGHTS_URL):
        return mirror.rstrip('/') + '/' + url[len(PADDLECLAS_WEIGHTS_URL):]
    return url


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
        README='README.md',
        Code=dict(URL='hgnet_backbones/models/hgnetv2.py'))
    return dict(Collections=[collection], Models=models)


def write_metafile(path: str, sizes: dict) -> None:
    """Write :func:`metafile` as YAML to ``path`` (atomically)."""
    import yaml
    write_text(path, yaml.safe_dump(metafile(sizes), sort_keys=False, width=100))
