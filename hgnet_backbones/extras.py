"""What a module that needs an optional dependency says when it is missing: which of this package's
extras (``setup.cfg``, ``[options.extras_require]``) brings it."""
import contextlib
from typing import Iterator

# what an extra cannot bring: mmdeploy 1.3.1's metadata pins protobuf<=3.20.2, which current onnx
# cannot use, so it installs beside the deploy extra without its declared dependencies
ALSO_INSTALL = {'deploy': ' and pip install --no-deps mmdeploy==1.3.1'}


@contextlib.contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Imports in this block come with the ``extra`` of this package: a missing module raises a
    ``ModuleNotFoundError`` that names the extra and the command that installs it.

    Example::

        with needs_extra('demo'):
            import skimage.data
    """
    try:
        yield
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"{error}: it comes with the {extra!r} extra of hgnet_backbones, "
            f"pip install 'hgnet_backbones[{extra}]'{ALSO_INSTALL.get(extra, '')}", name=error.name,
            path=error.path) from error
