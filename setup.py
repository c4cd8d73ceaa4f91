"""Packaging as OpenMMLab packages do it (mmpretrain's ``.mim`` extension): the wheel carries the
configs, the tools and model-index.yml under ``hgnet_backbones/.mim/``, where ``mim`` and mmengine
look for them. In the source tree those are links to the top-level folders (editable installs use
them as they are); a wheel gets copies."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


class BuildPyWithMim(build_py):

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return  # the package in the source tree holds the .mim links
        mim = os.path.join(self.build_lib, 'hgnet_backbones', '.mim')
        shutil.rmtree(mim, ignore_errors=True)
        os.makedirs(mim)
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
        for name in MIM_FILES:
            src, dst = os.path.join(ROOT, name), os.path.join(mim, name)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=ignore)
            else:
                shutil.copyfile(src, dst)


setup(cmdclass={'build_py': BuildPyWithMim})
