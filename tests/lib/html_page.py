# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read an HTML page as a browser would build its tree, with html.parser only: for the fleet_html tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Optional

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, Optional[str]]
    parent: Optional["Element"] = field(default=None, repr=False)
    children: list["Element"] = field(default_factory=list, repr=False)
    parts: list[str] = field(default_factory=list, repr=False)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        """All text inside, tags left out, white space squeezed."""
        return re.sub(r"\s+", " ", "".join(self._texts())).strip()

    def _texts(self):
        # parts holds this element's own text chunks and, as None markers, where its children go.
        index = 0
        for part in self.parts:
            if part is None:
                yield from self.children[index]._texts()
                index += 1
            else:
                yield part

    def iter(self):
        for child in self.children:
            yield child
            yield from child.iter()

    def find_all(self, tag: Optional[str] = None, cls: Optional[str] = None, **attrs: str) -> list["Element"]:
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: Optional[str] = None, cls: Optional[str] = None, **attrs: str) -> "Element":
        found = self.find_all(tag, cls, **attrs)
        if not found:
            raise AssertionError("no <%s class=%s %s>" % (tag, cls, attrs))
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs), parent=self.current)
        self.current.children.append(element)
        self.current.parts.append(None)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.current = self.current.parent

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is None:
            self.errors.append("stray </%s>" % tag)
            return
        if node is not self.current:
            self.errors.append("<%s> closed by </%s>" % (self.current.tag, tag))
        self.current = node.parent

    def handle_data(self, data):
        self.current.parts.append(data)


def parse(page: str) -> Element:
    """The document's tree; fails on mismatched tags (the page is generated, it has none)."""
    builder = _Builder()
    builder.feed(page)
    builder.close()
    if builder.errors or builder.current is not builder.root:
        raise AssertionError("malformed HTML: %s (open: %s)" % (builder.errors[:5], builder.current.tag))
    return builder.root


def external_references(page: str, root: Element) -> list[str]:
    """Everything that would make a browser load something: script src, link href, @import, url(...), img/iframe/object."""
    found = ["<%s %s>" % (e.tag, e.attrs) for e in root.iter()
             if (e.tag == "script" and e.attrs.get("src")) or e.tag in ("link", "img", "iframe", "object", "embed", "base")]
    styles = " ".join(e.text() for e in root.find_all("style")) + " " + " ".join(
        e.attrs.get("style") or "" for e in root.iter())
    found += re.findall(r"@import[^;]*|url\([^)]*\)", styles, re.I)
    found += re.findall(r"<link[^>]+href=[\"']?https?:", page, re.I)
    return found
