"""Write the config folders' metafile.yml (OpenMMLab's model-index format) and README.md, and the
model-index.yml that imports the metafiles, from the tables in hgnet_backbones/weights/zoo.py, with
parameters and FLOPs measured on the models the configs build.

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
from hgnet_backbones.weights.zoo import (DOWNSTREAM_COLLECTIONS, MODEL_ZOO, classification_readme,
                                         downstream_metafile, downstream_readme, metafile)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs'
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
