"""A missing optional dependency names the extra that brings it."""
import pytest

from hgnet_backbones.extras import needs_extra


def test_a_missing_module_names_the_extra_and_how_to_install_it():
    with pytest.raises(ModuleNotFoundError,
                       match=r"No module named 'no_such_module': it comes with the 'demo' extra of "
                             r"hgnet_backbones, pip install 'hgnet_backbones\[demo\]'") as error:
        with needs_extra('demo'):
            import no_such_module  # noqa: F401
    assert error.value.name == 'no_such_module'


def test_other_errors_pass_through_unchanged():
    with pytest.raises(ValueError, match='^not an import$'):
        with needs_extra('demo'):
            raise ValueError('not an import')


def test_the_deploy_extra_also_says_mmdeploy_installs_without_its_dependencies():
    with pytest.raises(ModuleNotFoundError,
                       match=r"pip install 'hgnet_backbones\[deploy\]' and pip install --no-deps "
                             r"mmdeploy==1\.3\.1$"):
        with needs_extra('deploy'):
            import no_such_module  # noqa: F401
