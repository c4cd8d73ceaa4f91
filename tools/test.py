"""Evaluate a checkpoint on a config's test set (mmpretrain, mmdet or mmseg).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]

CHECKPOINT may be a .pth, a PaddleClas .pdparams, a URL or paddleclas://B4/ssld_stage2.
"""
import argparse
import json
import os

from mmengine.config import DictAction

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.apis import test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    metrics = test(args.config, args.checkpoint, work_dir=args.work_dir, launcher=args.launcher,
                   cfg_options=args.cfg_options)
    print(json.dumps(metrics, indent=1, default=float))


if __name__ == '__main__':
    main()
