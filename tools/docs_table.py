"""The measured tables the tools write for the documentation (``--write-table FILE``; the pages under
docs/ include docs/_generated/*.md), each headed by a comment naming the command that regenerates it."""
import os

from hgnet_backbones.fileio import write_text


def write_docs_table(path: os.PathLike, command: str, table: str) -> None:
    """Write the Markdown ``table`` to ``path`` (atomically) under a comment naming ``command``, a
    ``python tools/<tool>.py ...`` line that includes ``--write-table path``."""
    tool = command.split()[1]
    write_text(path, f'<!-- Written by {tool} --write-table; regenerate with\n  {command}\n'
                     f'Do not edit by hand. -->\n\n{table.rstrip()}\n')
