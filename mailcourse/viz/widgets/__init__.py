"""The course's live widgets (ipywidgets 8), each driving the real lab, never a simulation.

    >>> from mailcourse.viz.widgets import SMTPStepper, Composer, LiveTrace, Quiz, Question

- `SMTPStepper`: SMTP one button at a time on a real connection; the real
  replies, the transcript and the ladder diagram after every click.
- `Composer`: a new-message window that shows the envelope beside the
  headers, sends through the lab's client host, and then shows what each
  recipient's mailbox received (the blind copy included, without a Bcc:).
- `LiveTrace`: the topology and the transcript, updated as traffic happens,
  for example while a server retries a queued message.
- `Quiz` and `Question`: multiple-choice and fill-in questions with
  immediate feedback.

Every widget has ``.static()``: what it showed, as text and SVG figures,
for a notebook read without a kernel (GitHub, nbviewer). A lesson displays
the widget in one cell (tagged ``nbval-ignore-output``: widget output cannot
be compared) and puts ``widget.static()`` in the next.

This package imports ipywidgets; ``import mailcourse`` does not, so a
lesson without widgets starts quickly.
"""
from __future__ import annotations

from .composer import Composer, Copy
from .livetrace import LiveTrace
from .pump import MainThreadPump
from .quiz import Question, Quiz
from .static import StaticView
from .stepper import Exchange, SMTPStepper

__all__ = ["Composer", "Copy", "Exchange", "LiveTrace", "MainThreadPump", "Question", "Quiz", "SMTPStepper",
           "StaticView"]
