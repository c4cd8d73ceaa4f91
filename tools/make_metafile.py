"""Write the config folders' metafile.yml (OpenMMLab's model-index format) and README.md, and the
model-index.yml that imports the metafiles, from PaddleClas's published weights and metrics
(hgnet_backbones/weights/zoo.py) and the config folders' table below, with parameters and FLOPs
measured on the models the configs build.

    python tools/make_metafile.py [--folders hgnetv2 retinanet ...]

configs/hgnetv2: PaddleClas's converted classifiers (published top-1/top-5, measured at 224x224);
the detection and segmentation folders: each config's size (FLOPs at the input of its table row).
Configs of the tiny sets (`*tiny*`) are named in the READMEs, not in the metafiles.
"""
import argparse
from pathlib import Path

import yaml

from hgnet_backbones.analysis import count_flops, count_params, image_data_samples
from hgnet_backbones.apis.config import build_model, codebase_of, config_model_size, load_config
from hgnet_backbones.fileio import write_text
from hgnet_backbones.weights.zoo import MODEL_ZOO, official_weights_url

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'

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
    'dfine': dict(name='D-FINE', task='Object Detection', dataset='COCO', flops_input=(640, 640),
                  paper=('D-FINE: Redefine Regression Task in DETRs as Fine-grained Distribution '
                         'Refinement', 'https://arxiv.org/abs/2410.13842'),
                  recipe=("D-FINE's own recipes, preprocessing and losses (VFL, L1, GIoU, GO-LSD's "
                          'FGL and DDF on every decoder layer, the encoder and the denoising queries; '
                          'see `configs/dfine/_base_/`), each layer matched on its own as in '
                          "transformers, where D-FINE supervises boxes on the union of all layers' "
                          'matches')),
    'deim': dict(name='DEIM', task='Object Detection', dataset='COCO', flops_input=(640, 640),
                 paper=('DEIM: DETR with Improved Matching for Fast Convergence',
                        'https://arxiv.org/abs/2412.04234'),
                 recipe=("DEIM's recipes over the D-FINE configs: Dense O2O, the matchability-aware "
                         'loss and the flat-cosine schedule (see `configs/deim/_base_/`)')),
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
# the detector families whose authors publish COCO weights that tools/convert_detector.py converts
_RELEASES = ('Their authors\' published weights load after `tools/convert_detector.py SRC DST` (or '
             'directly through `load_from`): {what}; see `docs/dfine.md`. ')
RELEASED_WEIGHTS = {
    'rtdetr': _RELEASES.format(what='RT-DETR-L/X from PaddleDetection, RT-DETR(v2)-L/X/H from '
                               'lyuwenyu/RT-DETR, with the `*_release_coco.py` configs'),
    'dfine': _RELEASES.format(what="D-FINE's N/S/M/L/X releases (COCO, Objects365) and transformers' "
                              'D-FINE'),
    'deim': _RELEASES.format(what="DEIM's releases (the D-FINE architecture: the `configs/dfine/` "
                             'configs load them)'),
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
    notes = []
    for config in configs:
        what = 'fine-tunes its `load_from` checkpoint' if 'finetune' in config else 'trains'
        notes.append(f'\n`{config}` {what} on the tiny CPU set of the top-level README.\n')
    return ''.join(notes)


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
    tiny = _tiny_note(other_configs) + ''.join(
        f'\n`{config}` is the model of a published release: convert its checkpoint with '
        '`tools/convert_detector.py` and give the result to `load_from`.\n'
        for config in sizes if '_release_' in config)
    return (
        f'{GENERATED_NOTE}# {info["name"]} with HGNetV2 ({codebase})\n\n'
        f'[{info["paper"][0]}]({info["paper"][1]}), with PaddleClas\'s PP-HGNetV2 as the backbone: '
        f'{info["task"].lower()} on {info["dataset"]}, '
        + info.get('recipe', f'{codebase}\'s own recipe with the backbone swapped (see '
                   '`configs/_base_/`)') + '.\n\n'
        f'| config | params (M) | GFLOPs |\n|---|---|---|\n{rows}\n\n'
        f'FLOPs (one multiply-add counted as one) {where}; parameters and FLOPs are measured on the '
        'built models by `tools/make_metafile.py`, which writes this file and `metafile.yml`.\n'
        f'{tiny}\n## Weights\n\n'
        f'{RELEASED_WEIGHTS.get(folder, "No trained weights are published for these configs. ")}'
        'The backbone starts from PaddleClas\'s '
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


FOLDERS = ('hgnetv2', *DOWNSTREAM_COLLECTIONS)


def downstream_size(config: Path, flops_input) -> dict:
    """Parameters, and FLOPs at ``flops_input`` (height, width) unless it is None, of the model."""
    cfg = load_config(str(config))
    model = build_model(cfg)
    size = dict(params=count_params(model), flops=None)
    if flops_input is not None:
        shape = (1, 3, *flops_input)
        size['flops'] = count_flops(model, shape, image_data_samples(codebase_of(cfg), shape))
    return size


def write_yaml(path: Path, data: dict) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False, width=100))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--folders', nargs='+', choices=FOLDERS, default=list(FOLDERS))
    args = parser.parse_args(argv)
    for folder in args.folders:
        path = CONFIGS / folder
        tiny = sorted(p.name for p in path.glob('*tiny*.py'))
        if folder == 'hgnetv2':
            sizes = {arch: config_model_size(str(path / f'hgnetv2-{arch.lower()}_8xb128_in1k.py'))
                     for arch in MODEL_ZOO}
            meta, readme = metafile(sizes), classification_readme(sizes, tiny)
        else:
            flops_input = DOWNSTREAM_COLLECTIONS[folder]['flops_input']
            sizes = {p.name: downstream_size(p, flops_input)
                     for p in sorted(path.glob('*.py')) if p.name not in tiny}
            meta, readme = downstream_metafile(folder, sizes), downstream_readme(folder, sizes, tiny)
        write_yaml(path / 'metafile.yml', meta)
        write_text(path / 'README.md', readme)
        print(f'wrote {path / "metafile.yml"} and README.md')
    write_yaml(REPO / 'model-index.yml',
               {'Import': [f'configs/{folder}/metafile.yml' for folder in FOLDERS]})


if __name__ == '__main__':
    main()
