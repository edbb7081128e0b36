"""The checks behind the exercises of the notebooks.

A lesson's set-up cell imports this module as ``check``::

    import mailcourse.exercises as check

and the cell after each exercise calls one function, for example
``check.hello_jane(lab)``. A check looks at the *live* lab (what arrived in
which mailbox, what waits in which queue, what the trace recorded) or at the
answer the student wrote, and then either

* prints one fixed line, ``✔ Correct: ...``, or
* raises `ExerciseError` with what is wrong, in plain words.

A check explains a wrong answer without giving the right one away: it says
what it found and what it expected to find, never the code that would get
there.

The checks live in one module per lesson (`mailcourse.exercises.lesson00`
... `lesson09`), with what they share in `mailcourse.exercises.common`; this
package gathers them, so ``check.<name>`` finds every one. ``check.quiz("02")``
shows a lesson's questions (`mailcourse.quizzes`).
"""
from __future__ import annotations

from ..quizzes import quiz
from .common import ExerciseError
from .lesson00 import *  # noqa: F403
from .lesson01 import *  # noqa: F403
from .lesson02 import *  # noqa: F403
from .lesson03 import *  # noqa: F403
from .lesson04 import *  # noqa: F403
from .lesson05 import *  # noqa: F403
from .lesson06 import *  # noqa: F403
from .lesson06b import *  # noqa: F403
from .lesson07 import *  # noqa: F403
from .lesson07b import *  # noqa: F403
from .lesson08 import *  # noqa: F403
from .lesson09 import *  # noqa: F403
from .lesson00 import __all__ as _lesson00
from .lesson01 import __all__ as _lesson01
from .lesson02 import __all__ as _lesson02
from .lesson03 import __all__ as _lesson03
from .lesson04 import __all__ as _lesson04
from .lesson05 import __all__ as _lesson05
from .lesson06 import __all__ as _lesson06
from .lesson06b import __all__ as _lesson06b
from .lesson07 import __all__ as _lesson07
from .lesson07b import __all__ as _lesson07b
from .lesson08 import __all__ as _lesson08
from .lesson09 import __all__ as _lesson09

__all__ = ["ExerciseError", "quiz", *_lesson00, *_lesson01, *_lesson02, *_lesson03, *_lesson04, *_lesson05,
           *_lesson06, *_lesson06b, *_lesson07, *_lesson07b, *_lesson08,
           *_lesson09]
