"""HTML mail, made safe to show: the Ammonia sanitizer (nh3) and what it is told.

An HTML mail is a web page written by a stranger. Shown as it is, inside the
webmail's own origin, its scripts could read the user's other mail and send
mail as her; its ``<img src="https://tracker/...">`` tells the sender when
and where it was opened. So an HTML body goes through three fences:

1. **nh3** (Python bindings of Ammonia, an allow-list sanitizer built on a
   real HTML5 parser): only the tags and attributes listed here survive.
   ``<script>`` and ``<style>`` go with their content; every ``on...=``
   event handler, ``javascript:`` URL, form, iframe and object is gone.
   Links keep ``http``, ``https`` and ``mailto`` URLs only, relative URLs
   are dropped (they would point into the webmail itself), and an image
   keeps its ``src`` only for ``data:image/...``: remote images are not
   loaded, so "web bugs" learn nothing.
2. The cleaned HTML is served from its own URL (``message/<folder>/<uid>/html``)
   with ``Content-Security-Policy: default-src 'none'; img-src data:;
   style-src 'unsafe-inline'; sandbox`` (see `mailcourse.webmail.security`):
   even if something slipped through, the browser runs no script, loads
   nothing from the network, and treats the document as a unique origin.
3. The message page shows it in ``<iframe sandbox="">``: the same sandbox,
   enforced by the embedding page as well.

`html_to_text` turns HTML into plain text (for quoting in a reply, and for
the plain view of an HTML-only mail): nh3 with no tags allowed keeps just the
text, with its entities.
"""
from __future__ import annotations

import html

import nh3

# Ammonia's default allow-list (layout, text formatting, lists, tables, links and
# images, whose src is filtered below) without image maps.
TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
URL_SCHEMES = {"http", "https", "mailto", "data"}  # data: only survives on <img>, see `_filter`
REMOVE_WITH_CONTENT = {"script", "style", "title", "head"}


def _filter(tag: str, attribute: str, value: str) -> str | None:
    """nh3's per-attribute hook: None removes the attribute."""
    if attribute == "src":
        # Only images embedded in the message itself; a remote URL would be a request to the sender.
        return value if tag == "img" and value.strip().lower().startswith("data:image/") else None
    if attribute in ("href", "cite"):
        scheme = value.strip().partition(":")[0].lower()
        if ":" not in value or scheme not in ("http", "https", "mailto"):
            return None  # relative (would point into the webmail) or data: (a page of its own)
    return value


def clean_html(text: str) -> str:
    """An HTML body reduced to harmless markup (see the module docstring)."""
    return nh3.clean(text, tags=TAGS, clean_content_tags=REMOVE_WITH_CONTENT, attributes=ATTRIBUTES,
                     attribute_filter=_filter, url_schemes=URL_SCHEMES, strip_comments=True,
                     link_rel="noopener noreferrer")


def html_document(fragment: str) -> str:
    """The cleaned fragment as a complete little page for the sandboxed iframe."""
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n<body>\n'
            f"{fragment}\n</body></html>\n")


def html_to_text(text: str) -> str:
    """The words of an HTML document, without any markup."""
    stripped = nh3.clean(text, tags=set(), clean_content_tags=REMOVE_WITH_CONTENT, attributes={})
    lines = [line.rstrip() for line in html.unescape(stripped).splitlines()]
    return "\n".join(lines).strip("\n")
