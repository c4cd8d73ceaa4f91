"""Make a tiny dataset from the photos scikit-image ships (nothing is downloaded).

    python tools/make_tiny_dataset.py cls data/tiny_imagenet
    python tools/make_tiny_dataset.py det data/tiny_coco
    python tools/make_tiny_dataset.py seg data/tiny_ade20k
"""
import argparse

from hgnet_backbones.tiny_data import make_tiny_ade20k, make_tiny_coco, make_tiny_imagenet

MAKERS = {'cls': make_tiny_imagenet, 'det': make_tiny_coco, 'seg': make_tiny_ade20k}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('kind', choices=sorted(MAKERS), help='cls: ImageNet-format classification; '
                        'det: COCO-format detection and instance masks; seg: ADE20K-layout semantic segmentation')
    parser.add_argument('out', help='output folder')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    counts = MAKERS[args.kind](args.out, seed=args.seed)
    print(f'{args.out}: {counts}')


if __name__ == '__main__':
    main()
