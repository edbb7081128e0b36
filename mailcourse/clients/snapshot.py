"""A page of the kernel's browser as a picture of itself, for a notebook.

`snapshot` turns a `Page` into HTML that shows what the browser showed and
can do nothing: no scripts, no live links, and every secret (session cookie,
CSRF token) and date replaced by fixed text, so two runs of a lesson show
the same page. `Page` shows itself this way in a notebook (``_repr_html_``);
`mailcourse.viz.webmail` re-exports these names for lesson 08.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .browser import Page

SECRET = "(secret)"  # what a snapshot or a transcript shows instead of a token
DATE = "(date)"  # ... and instead of the server's clock



_SCRIPT = re.compile(r"<(script|noscript|template)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_IFRAME = re.compile(r"<iframe\b[^>]*>.*?</iframe\s*>|<iframe\b[^>]*/?>", re.IGNORECASE | re.DOTALL)
_BODY = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.IGNORECASE | re.DOTALL)
_HEAD_LINKS = re.compile(r"<(link|meta|base)\b[^>]*>", re.IGNORECASE)
# Attributes that act, load or navigate: a snapshot does none of that.
_ACTIVE = re.compile(r"""\s(href|src|srcset|action|formaction|on[a-z]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""",
                     re.IGNORECASE)
_TOKEN_VALUE = re.compile(r"""(name\s*=\s*["']?csrf["']?[^>]*?\svalue\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""",
                          re.IGNORECASE)
_INPUT = re.compile(r"<(input|textarea|select|button)\b", re.IGNORECASE)
HTTP_DATE = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2}[ -](?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
                        r"[ -]\d{2,4} \d{2}:\d{2}:\d{2} GMT")
# The dates a page shows (a message list's "2026-11-29 09:41", a message's Date:) are the clock of
# the run that made them: a snapshot shows them as fixed text, so that two runs show the same page.
_PAGE_DATES = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?\b|"
                         r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), +\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d{2}:\d{2}(?::\d{2})? ?(?:[+-]\d{4}|GMT|UTC)?")
SNAPSHOT_CLASS = "mailcourse-webmail-snapshot"


def scope_css(css: str, scope: str) -> str:
    """Style rules that apply inside ``scope`` only (a CSS selector), so a page's style stays in its box.

    ``html`` and ``body`` become the scope itself; every other selector is
    put under it. ``@media`` and ``@supports`` blocks are scoped inside;
    other at-rules (``@font-face``, ``@keyframes``) are kept as they are.
    """
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    out: list[str] = []
    i = 0
    while i < len(css):
        brace = css.find("{", i)
        if brace < 0:
            break
        prelude = css[i:brace].strip()
        depth, j = 1, brace + 1
        while j < len(css) and depth:
            depth += {"{": 1, "}": -1}.get(css[j], 0)
            j += 1
        block = css[brace + 1: j - 1]
        if prelude.startswith(("@media", "@supports", "@container")):
            out.append(f"{prelude} {{\n{scope_css(block, scope)}\n}}")
        elif prelude.startswith("@"):
            out.append(f"{prelude} {{{block}}}")
        else:
            selectors = []
            for selector in prelude.split(","):
                selector = selector.strip()
                bare = re.sub(r"^(html|body|:root)\b\s*", "", selector)
                selectors.append(f"{scope} {bare}".strip() if bare else scope)
            out.append(f"{', '.join(selectors)} {{{block.strip()}}}")
        i = j
    return "\n".join(out)


def _mask_secrets(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True):
        text = text.replace(secret, SECRET)
    return text


def snapshot(page: Page, caption: str | None = None) -> str:
    """A page as HTML that shows what the browser showed and can do nothing.

    Scripts, frames and style sheets of the page are dropped; links, forms
    and images lose their addresses (a click in a notebook would go nowhere
    useful); form fields are disabled; CSRF tokens, session ids and dates
    (the clock of the run) become fixed text, so that two runs of a lesson
    give the same snapshot. The webmail's own style, limited to the box, keeps the look.
    A message's HTML part, which the webmail shows in a sandboxed frame of
    its own, becomes a note saying so.
    """
    body_match = _BODY.search(page.html)
    content = body_match.group(1) if body_match else page.html
    styles = "\n".join(_STYLE.findall(page.html))
    content = _STYLE.sub("", _SCRIPT.sub("", content))
    content = _IFRAME.sub('<p class="mc-frame-note"><em>(Here the webmail shows the message\'s HTML part, '
                          'cleaned, in a sandboxed frame of its own.)</em></p>', content)
    content = _HEAD_LINKS.sub("", content)
    content = _TOKEN_VALUE.sub(lambda m: f'{m.group(1)}"{SECRET}"', content)
    content = _ACTIVE.sub("", content)
    content = _INPUT.sub(lambda m: f"<{m.group(1)} disabled", content)
    content = _mask_secrets(content, page.secrets)
    content = _PAGE_DATES.sub(DATE, HTTP_DATE.sub(DATE, content))
    scope = f".{SNAPSHOT_CLASS}"
    css = scope_css(page.css + "\n" + styles, f"{scope} .mc-page") if (page.css or styles) else ""
    where = html.escape(caption or f"{page.url}  ({page.status} {page.reason})")
    return (f'<figure class="{SNAPSHOT_CLASS}" style="margin: 0.5em 0; max-width: 60em;">'
            + (f"<style>{css}</style>" if css else "")
            + '<div class="mc-page" style="border: 1px solid #999; border-radius: 4px; padding: 0.5em; '
              'overflow: auto; max-height: 32em; background: #fff; color: #1a1a1a;">'
            + content.strip()
            + "</div>"
            + f'<figcaption style="font-size: 85%; color: #555; margin-top: 0.3em;">Webmail: {where}</figcaption>'
            + "</figure>")
