"""The config folders' metafile.yml and README.md, and model-index.yml, as tools/make_metafile.py
writes them from PaddleClas's published weights (hgnet_backbones/weights/zoo.py) and the models the
configs build."""
import sys
from pathlib import Path

import pytest
import torch
import yaml

from hgnet_backbones.analysis import count_flops, count_params, image_data_samples
from hgnet_backbones.apis import build_model, load_config
from hgnet_backbones.weights.zoo import MODEL_ZOO, PADDLECLAS_WEIGHTS_URL

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
from make_metafile import (DOWNSTREAM_COLLECTIONS, classification_readme, downstream_metafile,  # noqa: E402
                           downstream_readme, metafile)

METAFILE = REPO / 'configs/hgnetv2/metafile.yml'


@pytest.fixture(scope='module')
def saved():
    return yaml.safe_load(METAFILE.read_text())


def test_model_index_imports_the_metafile_of_every_config_folder():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    folders = ['hgnetv2', *DOWNSTREAM_COLLECTIONS]
    assert index == {'Import': [f'configs/{folder}/metafile.yml' for folder in folders]}
    model_folders = {p.parent.name for p in (REPO / 'configs').glob('*/*.py')} - {'_base_', 'deploy'}
    assert set(folders) == model_folders


def test_metafile_is_generated_from_the_model_zoo_table(saved):
    sizes = {}
    for model in saved['Models']:
        arch = model['Name'].split('_')[0].split('-')[1].upper()
        sizes[arch] = dict(params=model['Metadata']['Parameters'], flops=model['Metadata']['FLOPs'])
    assert set(sizes) == set(MODEL_ZOO)
    assert metafile(sizes) == saved  # names, metrics and URLs all come from MODEL_ZOO
    tiny = sorted(p.name for p in METAFILE.parent.glob('*tiny*.py'))
    assert (METAFILE.parent / 'README.md').read_text() == classification_readme(sizes, tiny)


def test_metafile_sizes_are_measured_on_its_configs(saved, codebases):
    for model in saved['Models']:
        config = REPO / model['Config']
        assert config.is_file(), config
        with torch.device('meta'):
            built = build_model(load_config(str(config)))
        assert model['Metadata']['Parameters'] == count_params(built), model['Name']
        assert model['Weights'].startswith(PADDLECLAS_WEIGHTS_URL)
    b0 = next(m for m in saved['Models'] if m['Name'].startswith('hgnetv2-b0'))
    assert b0['Metadata']['FLOPs'] == count_flops(build_model(load_config(str(REPO / b0['Config']))))


def _downstream(folder):
    path = REPO / 'configs' / folder
    saved = yaml.safe_load((path / 'metafile.yml').read_text())
    tiny = sorted(p.name for p in path.glob('*tiny*.py'))
    return path, saved, tiny


@pytest.mark.parametrize('folder', sorted(DOWNSTREAM_COLLECTIONS))
def test_detection_and_segmentation_metafiles_and_readmes_are_generated_from_one_table(folder, codebases):
    path, saved, tiny = _downstream(folder)
    sizes = {Path(m['Config']).name: dict(params=m['Metadata']['Parameters'],
                                          flops=m['Metadata'].get('FLOPs')) for m in saved['Models']}
    # every config of the folder but the tiny sets' is listed
    assert sizes, f'{folder}: no model in its metafile'
    assert sorted(sizes) == sorted(p.name for p in path.glob('*.py') if p.name not in tiny)
    assert downstream_metafile(folder, sizes) == saved
    assert (path / 'README.md').read_text() == downstream_readme(folder, sizes, tiny)
    measured = DOWNSTREAM_COLLECTIONS[folder]['flops_input'] is not None
    assert all((size['flops'] is not None) == measured for size in sizes.values())
    for config, size in sizes.items():
        with torch.device('meta'):
            built = build_model(load_config(str(path / config)))
        assert size['params'] == count_params(built), config


def test_downstream_flops_are_measured_on_the_built_model(codebases):
    _, saved, _ = _downstream('rtmdet')
    model = saved['Models'][0]
    shape = (1, 3, *DOWNSTREAM_COLLECTIONS['rtmdet']['flops_input'])
    built = build_model(load_config(str(REPO / model['Config'])))
    assert model['Metadata']['FLOPs'] == count_flops(built, shape, image_data_samples('mmdet', shape))
