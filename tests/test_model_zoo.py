from pathlib import Path

import pytest
import torch
import yaml

from hgnet_backbones.analysis import count_flops, count_params
from hgnet_backbones.apis import build_model, load_config
from hgnet_backbones.weights.zoo import MODEL_ZOO, PADDLECLAS_WEIGHTS_URL, metafile

REPO = Path(__file__).resolve().parents[1]
METAFILE = REPO / 'configs/hgnetv2/metafile.yml'


@pytest.fixture(scope='module')
def saved():
    return yaml.safe_load(METAFILE.read_text())


def test_model_index_imports_the_metafile():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert index == {'Import': ['configs/hgnetv2/metafile.yml']}


def test_metafile_is_generated_from_the_model_zoo_table(saved):
    sizes = {}
    for model in saved['Models']:
        arch = model['Name'].split('_')[0].split('-')[1].upper()
        sizes[arch] = dict(params=model['Metadata']['Parameters'], flops=model['Metadata']['FLOPs'])
    assert set(sizes) == set(MODEL_ZOO)
    assert metafile(sizes) == saved  # names, metrics and URLs all come from MODEL_ZOO


def test_metafile_sizes_are_measured_on_its_configs(saved):
    for model in saved['Models']:
        config = REPO / model['Config']
        assert config.is_file(), config
        with torch.device('meta'):
            built = build_model(load_config(str(config)))
        assert model['Metadata']['Parameters'] == count_params(built), model['Name']
        assert model['Weights'].startswith(PADDLECLAS_WEIGHTS_URL)
    b0 = next(m for m in saved['Models'] if m['Name'].startswith('hgnetv2-b0'))
    assert b0['Metadata']['FLOPs'] == count_flops(build_model(load_config(str(REPO / b0['Config']))))

