# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write docs/docsite/rst/guide_<name>.rst from each guide docs/<name>.md for the antsibull-docs site.

The guides are written in Markdown (they read well on GitHub and Galaxy); antsibull-docs takes
reStructuredText, so `make docs` converts them with pandoc (pypandoc_binary in the docs
environment). Links between guides become :ref: links, links to other files of the repository
point at GitHub. Every guide must be listed in docs/docsite/extra-docs.yml: a guide missing there
fails the build, so a new page never drops out of the site unnoticed.

Usage: python docs/docsite/md_to_rst.py [--check]   (--check: fail if an rst file is out of date)
"""

from __future__ import annotations

import glob
import os
import re
import sys
import tempfile

import pypandoc
import yaml

DOCSITE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(DOCSITE))
BLOB = "https://github.com/unikernels/albatross/blob/main/"
RAW = "https://github.com/unikernels/albatross/raw/main/"  # images: the file itself, not GitHub's page about it
LABEL = "ansible_collections.unikernels.albatross.docsite.%s"
HEADER = ".. Generated from docs/%s.md by docs/docsite/md_to_rst.py; edit the Markdown.\n\n"


def rst_name(stem: str) -> str:
    return "guide_" + stem.replace("-", "_")


def listed_guides() -> set[str]:
    with open(os.path.join(DOCSITE, "extra-docs.yml"), encoding="utf-8") as handle:
        extra = yaml.safe_load(handle)
    return {entry for section in extra.get("sections", []) for entry in section.get("toctree", [])}


# Links to other guides become :ref: links. Raw rst inlines inside the document tree keep the
# widths of pandoc's grid tables right (rewriting its output afterwards would break them).
LUA = """
local guides = {%s}
function Link(el)
  local stem = el.target:match("^([%%w_-]+)%%.md$") or el.target:match("^([%%w_-]+)%%.md#")
  if stem and guides[stem] then
    return pandoc.RawInline("rst", ":ref:`" .. pandoc.utils.stringify(el.content) .. " <%s>`")
  end
  -- rst cannot nest code in a link: keep the text
  if #el.content == 1 and el.content[1].t == "Code" then
    el.content = {pandoc.Str(el.content[1].text)}
    return el
  end
end
"""


def _repository_link(match: re.Match) -> str:
    """A relative link to a file of the repository (not a guide) points at GitHub."""
    text, target = match.group(1), match.group(2)
    if re.match(r"^[a-z]+:", target) or target.startswith("#") or re.match(r"^[\w-]+\.md(#|$)", target):
        return match.group(0)
    base = RAW if match.group(0).startswith("!") else BLOB
    return "%s[%s](%s%s)" % ("!" if base is RAW else "", text, base, os.path.normpath(os.path.join("docs", target)))


def convert(stem: str, stems: set[str], lua: str) -> str:
    with open(os.path.join(ROOT, "docs", stem + ".md"), encoding="utf-8") as handle:
        markdown = handle.read()
    # the snippet markers of tests/integration/test_docs_snippets.py are for the tests only
    markdown = re.sub(r"^<!--\s*snippet:.*?-->\s*\n", "", markdown, flags=re.M)
    markdown = re.sub(r"!?\[([^\]]+)\]\(([^)\s]+)\)", _repository_link, markdown)
    # no automatic section labels: they are global in Sphinx and would clash between guides
    rst = pypandoc.convert_text(markdown, "rst", format="gfm-gfm_auto_identifiers",
                                extra_args=["--wrap=preserve", "--lua-filter=" + lua])
    return HEADER % stem + ".. _%s:\n\n" % (LABEL % rst_name(stem)) + rst


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stems = {os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))}
    missing = sorted(s for s in stems if rst_name(s) not in listed_guides())
    if missing:
        sys.stderr.write("docs/docsite/extra-docs.yml does not list %s: add them to a toctree\n"
                         % ", ".join(rst_name(s) for s in missing))
        return 1
    stale = []
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(LUA % (", ".join('["%s"] = true' % s for s in sorted(stems)), LABEL % 'guide_" .. stem:gsub("-", "_") .. "'))
        lua = handle.name
    try:
        return _write(stems, lua, check)
    finally:
        os.unlink(lua)


def _write(stems: set[str], lua: str, check: bool) -> int:
    stale = []
    for stem in sorted(stems):
        target = os.path.join(DOCSITE, "rst", rst_name(stem) + ".rst")
        text = convert(stem, stems, lua)
        current = None
        if os.path.exists(target):
            with open(target, encoding="utf-8") as handle:
                current = handle.read()
        if current == text:
            continue
        if check:
            stale.append(os.path.relpath(target, ROOT))
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        sys.stdout.write("wrote %s\n" % os.path.relpath(target, ROOT))
    if stale:
        sys.stderr.write("out of date (run make docs): %s\n" % ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
