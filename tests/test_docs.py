"""The documentation under docs/ builds with Sphinx and MyST with warnings as errors, so that a link to
a page or heading that does not exist fails the suite (CI runs it), and its measured tables are the
files the tools write."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip('myst_parser', reason='the docs extra is not installed (HGNET_EXTRAS without docs)')

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / 'docs'


def build(source: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-n', '-q', '-b', 'html',
                           str(source), str(out)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def html(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs') / 'html'
    return build(DOCS, out), out


def test_docs_build_without_a_warning(html):
    result, out = html
    assert result.returncode == 0, result.stderr
    assert 'WARNING' not in result.stderr, result.stderr
    pages = {p.stem for p in DOCS.glob('*.md')}
    assert pages <= {p.stem for p in out.glob('*.html')}


def test_readme_links_into_the_docs_name_built_pages_and_headings(html):
    _, out = html
    links = re.findall(r'\]\(docs/(\w+)\.md(?:#([\w-]+))?\)', (REPO / 'README.md').read_text())
    assert len(links) > 10
    for page, anchor in links:
        built = out / f'{page}.html'
        assert built.is_file(), page
        if anchor:
            assert f'id="{anchor}"' in built.read_text(), f'{page}.md#{anchor}'


def test_docs_build_fails_on_a_link_to_a_missing_heading_or_page(tmp_path):
    source = tmp_path / 'docs'
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns('_build'))
    with open(source / 'parity.md', 'a') as page:
        page.write('\n[a](weights.md#no-such-heading), [b](no_such_page.md), [c](#nor-this-one)\n')
    result = build(source, tmp_path / 'html')
    assert result.returncode != 0
    for target in ('no-such-heading', 'no_such_page.md', 'nor-this-one'):
        assert re.search(rf'parity\.md:\d+: WARNING: .*{re.escape(target)}', result.stderr), target


def test_every_generated_table_is_included_by_a_page_and_names_the_command_that_writes_it():
    generated = sorted((DOCS / '_generated').glob('*.md'))
    assert generated
    pages = '\n'.join(p.read_text() for p in DOCS.glob('*.md'))
    for table in generated:
        assert f'```{{include}} _generated/{table.name}\n```' in pages, table.name
        header = table.read_text().split('\n', 2)
        tool = re.fullmatch(r'<!-- Written by (tools/\w+\.py) --write-table; regenerate with', header[0])
        assert tool, table.name
        assert header[1].startswith(f'  python {tool[1]} ')
        assert header[1].endswith(f' --write-table docs/_generated/{table.name}')
