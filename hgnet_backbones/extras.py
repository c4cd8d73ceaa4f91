"""What a module that needs an optional dependency says when it is missing: which of this package's
extras (``setup.cfg``, ``[options.extras_require]``) brings it."""
import contextlib
from typing import Iterator


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
            f"pip install 'hgnet_backbones[{extra}]'", name=error.name, path=error.path) from error
