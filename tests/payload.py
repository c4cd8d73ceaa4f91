"""Test helper: a pickle payload that shows whether foreign code ran while a checkpoint was read."""
import shutil


class Payload:
    """Unpickling it copies this file to ``path``, the marker that foreign code ran. The pickle names
    ``shutil.copyfile`` only, so no test module is needed to unpickle it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (shutil.copyfile, (__file__, self.path))
