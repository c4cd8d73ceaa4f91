"""Convert a Hugging Face transformers RT-DETRv2 checkpoint (RTDetrV2ForObjectDetection: encoder,
decoder and heads; its backbone is left out) to an mmengine checkpoint for configs/rtdetr/.

    python tools/convert_rtdetr.py path/to/rtdetr_v2_r50vd rtdetr_v2_r50vd_mmdet.pth
    python tools/convert_rtdetr.py path/to/model.safetensors rtdetr_mmdet.pth

SRC is a transformers model folder (config.json + model.safetensors or pytorch_model.bin, as
save_pretrained and the hub lay them out) or a weights file. Where config.json is found, the model
settings the weights need in the mmdet config are printed.
"""
import argparse
import pprint

from hgnet_backbones.weights.convert import convert_hf_rtdetr_v2_file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='a transformers model folder or weights file')
    parser.add_argument('dst', help='the mmengine checkpoint to write (.pth)')
    args = parser.parse_args(argv)
    checkpoint = convert_hf_rtdetr_v2_file(args.src, args.dst)
    meta = checkpoint['meta']
    print(f"{args.dst}: {len(checkpoint['state_dict'])} tensors (encoder, decoder, heads); "
          f"{meta['backbone_keys_left_out']} backbone tensors left out")
    if 'model_settings' in meta:
        print('model settings for the mmdet config (merge into model=dict(...)):')
        pprint.pprint(meta['model_settings'], sort_dicts=False)


if __name__ == '__main__':
    main()
