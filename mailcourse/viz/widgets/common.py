"""What the course's widgets share: a display wrapper and a few small builders.

Each widget of the course is a plain Python object that *has* an ipywidgets
layout (``.widget``) rather than one that *is* a widget: its methods
(``send``, ``fill``, ``check``...) then cannot clash with the methods
ipywidgets reserves (``Widget.send`` is ipywidgets' own message channel),
and the object knows when it is displayed. Stable CSS classes (``mc-...``)
on every control let a browser test find them.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ipywidgets

    from ..diagram import Diagram
    from .static import StaticView


class WidgetView:
    """Base of the course's widgets: displaying the object displays ``self.widget``."""

    widget: ipywidgets.Box

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self._displayed()
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict) and "text/plain" in bundle:
            # What a viewer without a kernel shows instead of the widget (ipywidgets
            # would put the widget tree's repr here, hundreds of characters of it).
            bundle["text/plain"] = (f"{type(self).__name__}: a live widget; run the notebook to use it "
                                    f"(.static() shows what it showed)")
        return bundle

    def _displayed(self) -> None:
        """Called each time the widget is displayed (on the kernel's main thread)."""

    def static(self) -> StaticView:  # pragma: no cover - every widget overrides it
        raise NotImplementedError

    def close(self) -> None:
        """Close the widget and everything under it (it disappears from the page)."""
        _close_tree(self.widget)


def _close_tree(widget: Any) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def pre(text: str, css: str = "") -> str:
    """``text`` as an HTML <pre> block, escaped (a transcript may hold "<joe@...>")."""
    style = "margin:0;white-space:pre-wrap;font-size:12px;line-height:1.35;" + css
    return f'<pre style="{style}">{html.escape(text)}</pre>'


def classed(widget: Any, *names: str) -> Any:
    """Add CSS classes (the selectors the browser tests use) and return the widget."""
    for name in names:
        widget.add_class(name)
    return widget


def image(diagram: Diagram | None = None, css_class: str = "") -> ipywidgets.HTML:
    """A widget showing ``diagram`` as an SVG picture (empty until a diagram is set)."""
    import ipywidgets

    widget = ipywidgets.HTML(layout=ipywidgets.Layout(max_width="100%"))
    if diagram is not None:
        show(widget, diagram)
    else:
        widget.layout.display = "none"  # nothing to show yet: take no room
    return classed(widget, css_class) if css_class else widget


def show(widget: ipywidgets.HTML, diagram: Diagram) -> None:
    """Put ``diagram`` into a widget made by `image` (an <img> of its SVG), and make it visible."""
    widget.value = diagram.html()
    widget.layout.display = None
