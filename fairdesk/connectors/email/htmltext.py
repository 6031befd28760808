"""HTML e-mail bodies as plain text.

An HTML-only e-mail is sanitised with nh3 first (scripts, styles, event handlers and
non-http(s)/mailto links are removed with their content), then flattened to text: block
elements become line breaks, a link keeps its address after its words. No HTML is
stored: what reaches a page is this text, autoescaped like every other message.
"""

import re
from html.parser import HTMLParser

import nh3

# What survives sanitising: structure that becomes line breaks, and links.
KEPT_TAGS = frozenset(
    {"a", "br", "p", "div", "li", "ul", "ol", "table", "tr", "td", "th", "blockquote", "pre"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "hr"}
)
BLOCK_TAGS = KEPT_TAGS - {"a", "br", "td", "th", "li"}
DROPPED_WITH_CONTENT = frozenset({"script", "style", "title"})
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
BLANK_LINES = re.compile(r"\n{3,}")


def sanitise(html: str) -> str:
    """``html`` reduced to the kept tags, ``href`` only on links, safe schemes only."""
    return nh3.clean(
        html,
        tags=set(KEPT_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={"a": {"href"}},
        url_schemes=set(LINK_SCHEMES),
        link_rel=None,
    )


def to_text(html: str) -> str:
    """The readable text of an HTML body, sanitised first."""
    parser = _TextParser()
    parser.feed(sanitise(html))
    parser.close()
    lines = (line.strip() for line in "".join(parser.out).split("\n"))
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.links: list[tuple[str, int]] = []  # (href, where its words start in out)
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in BLOCK_TAGS:
            self.out.append("\n")
        if tag == "pre":
            self.pre += 1
        if tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.out)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            href, start = self.links.pop()
            words = "".join(self.out[start:]).strip()
            if href and href not in (words, f"mailto:{words}"):
                self.out.append(f" <{href}>")
        elif tag in BLOCK_TAGS:
            self.out.append("\n")
        if tag == "pre":
            self.pre = max(self.pre - 1, 0)

    def handle_data(self, data: str) -> None:
        self.out.append(data if self.pre else re.sub(r"\s+", " ", data))
