"""Sphinx configuration of the documentation: Markdown pages read by MyST, as OpenMMLab's docs are.

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

Warnings are errors (-W), so a link to a missing page or heading fails the build: MyST resolves every
Markdown link to a page (``page.md``) or heading (``page.md#heading``) and warns where it finds none.
"""
project = 'hgnet_backbones'
extensions = ['myst_parser']
source_suffix = {'.md': 'markdown'}
# the tables the tools generate are included by the pages, not pages of their own
exclude_patterns = ['_build', '_generated']
# an anchor for every heading down to ###, so links name headings by their GitHub-style slugs
myst_heading_anchors = 3
html_theme = 'alabaster'
