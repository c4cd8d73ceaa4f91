"""tools/infer.py with a deployed model (--deploy-cfg): the ONNX file in ONNX Runtime and its OpenVINO IR
predict what the PyTorch checkpoint does, through the same Inferencer."""
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip('mmdeploy', reason='the deploy extra is not installed (HGNET_EXTRAS without deploy)')

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
DEPLOY = REPO / 'configs/deploy'
TINY_CLS_CONFIG = str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py')


def _infer(capsys, *args) -> list:
    import infer as tool
    tool.main([str(a) for a in args])
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{')]


@pytest.fixture(scope='module')
def deployed_classifier(tiny_classifier, tiny_imagenet, tmp_path_factory):
    """The tiny classifier exported to ONNX and converted to OpenVINO IR: (onnx, xml or None)."""
    from hgnet_backbones.deploy import export_onnx
    work = tmp_path_factory.mktemp('deployed_classifier')
    image = sorted((tiny_imagenet / 'val').rglob('*.JPEG'))[0]
    onnx_file = export_onnx(str(DEPLOY / 'classification_onnxruntime_dynamic.py'), TINY_CLS_CONFIG,
                            str(tiny_classifier), str(image), str(work))
    try:
        from hgnet_backbones.deploy.openvino import convert_onnx
    except ImportError:
        return onnx_file, None
    return onnx_file, convert_onnx(onnx_file, str(work / 'end2end.xml'))


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_infer_tool_runs_a_deployed_classifier_as_its_checkpoint_predicts(
        backend, deployed_classifier, tiny_classifier, tiny_imagenet, capsys):
    onnx_file, xml = deployed_classifier
    if backend == 'openvino':
        pytest.importorskip('openvino', reason="openvino is not installed (the 'deploy' extra)")
    images = tiny_imagenet / 'val/cat'
    reference = _infer(capsys, images, TINY_CLS_CONFIG, tiny_classifier, '--topk', 3)
    deployed = _infer(capsys, images, TINY_CLS_CONFIG, xml if backend == 'openvino' else onnx_file,
                      '--topk', 3, '--deploy-cfg', DEPLOY / f'classification_{backend}_dynamic.py')
    assert len(deployed) == len(reference) == len(list(images.iterdir())) > 1
    for ours, ref in zip(deployed, reference):
        assert ours['file_name'] == ref['file_name'] and ours['class_ids'] == ref['class_ids']
        assert ours['scores'] == pytest.approx(ref['scores'], abs=1e-4)


def test_infer_tool_refuses_a_deployed_model_without_its_deploy_config(deployed_classifier,
                                                                       tiny_imagenet):
    import infer as tool
    with pytest.raises(ValueError, match='end2end.onnx is a deployed model: give the deploy config'):
        tool.main([str(tiny_imagenet / 'val/cat'), TINY_CLS_CONFIG, deployed_classifier[0]])


def test_infer_tool_refuses_a_model_file_its_backend_does_not_run(deployed_classifier, tiny_imagenet):
    import infer as tool
    with pytest.raises(ValueError, match=r"end2end.onnx' is not a tensorrt model file \(.engine\)"):
        tool.main([str(tiny_imagenet / 'val/cat'), TINY_CLS_CONFIG, deployed_classifier[0], '--deploy-cfg',
                   str(DEPLOY / 'classification_tensorrt_dynamic-224x224-224x224.py')])
