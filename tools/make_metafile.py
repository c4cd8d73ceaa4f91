"""Write configs/hgnetv2/metafile.yml (mmpretrain's model-index format) from the model zoo table in
hgnet_backbones/weights/zoo.py, with parameters and FLOPs measured on the models.

    python tools/make_metafile.py [--out configs/hgnetv2/metafile.yml]
"""
import argparse
from pathlib import Path

from hgnet_backbones.apis.config import config_model_size
from hgnet_backbones.weights.zoo import MODEL_ZOO, write_metafile

CONFIGS = Path(__file__).resolve().parents[1] / 'configs/hgnetv2'
DEFAULT_OUT = CONFIGS / 'metafile.yml'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    sizes = {arch: config_model_size(str(CONFIGS / f'hgnetv2-{arch.lower()}_8xb128_in1k.py'))
             for arch in MODEL_ZOO}
    write_metafile(args.out, sizes)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
