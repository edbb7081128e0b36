"""The lessons' question banks, kept out of the notebooks, and the quiz each student gets.

A lesson's last code cell says only::

    check.quiz("02")

and the student sees that lesson's questions as a `Quiz` widget. The
questions, their answers and explanations live here, one TOML file per
lesson (``lesson02.toml``), so that a student reading the notebook does not
read the answers one line above the buttons. A question is either

* multiple choice: ``answer`` is the right choice's text and ``wrong`` the
  others, written in any order (the right one is placed by `arrange`), or
* typed: no ``wrong``; ``answer`` is the accepted text (or a list of
  accepted texts). With ``kind = "code"`` the student types a reply code.

Each student gets the choices in an order of their own (`arrange`), drawn
from a seed: the one given to `quiz`, else ``$MAILCOURSE_SEED``, else the
user name (``$JUPYTERHUB_USER`` on a hub). The order is the same every time
the cell runs for that student, and differs from one student to the next,
so "the answer is the second one" cannot be passed around a classroom.
"""
from __future__ import annotations

import getpass
import os
import random
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..viz.widgets import Quiz

__all__ = ["Bank", "Item", "arrange", "bank", "banks", "quiz", "student_seed"]


@dataclass(frozen=True)
class Item:
    """One question of a bank, as written (the right choice first in `choices`)."""

    prompt: str
    answer: str | list[str]
    explain: str
    wrong: list[str] = field(default_factory=list)
    kind: str = "choice"  # "choice", "text" or "code" (a typed reply code)

    @property
    def choices(self) -> list[str]:
        """The right choice, then the wrong ones (empty for a typed question)."""
        return [str(self.answer), *self.wrong] if self.kind == "choice" else []


@dataclass(frozen=True)
class Bank:
    """A lesson's questions under a title."""

    lesson: str
    title: str
    items: list[Item]


def _item(raw: dict, where: str) -> Item:
    unknown = set(raw) - {"prompt", "answer", "wrong", "explain", "kind"}
    if unknown or "prompt" not in raw or "answer" not in raw:
        raise ValueError(f"{where}: a question needs prompt and answer (and knows only wrong, explain, kind); "
                         f"got {sorted(raw)}")
    wrong = [str(w) for w in raw.get("wrong", [])]
    kind = raw.get("kind", "choice" if wrong else "text")
    if kind == "choice":
        if len(wrong) < 2 or not isinstance(raw["answer"], str):
            raise ValueError(f"{where}: a multiple-choice question needs one answer and at least two wrong choices")
        answer: str | list[str] = raw["answer"]
    elif kind in ("text", "code"):
        if wrong:
            raise ValueError(f"{where}: a typed question has no wrong choices")
        answer = [raw["answer"]] if isinstance(raw["answer"], str) else [str(a) for a in raw["answer"]]
    else:
        raise ValueError(f"{where}: kind must be choice, text or code, not {kind!r}")
    return Item(prompt=raw["prompt"], answer=answer, explain=raw.get("explain", ""), wrong=wrong, kind=kind)


def bank(lesson: str) -> Bank:
    """The question bank of ``lesson`` ("02", "06b"...), read from ``lesson<NN>.toml``."""
    name = f"lesson{lesson}.toml"
    path = resources.files(__package__) / name
    if not path.is_file():
        raise LookupError(f"no question bank for lesson {lesson!r} (looked for {name} in mailcourse/quizzes)")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    items = [_item(raw, f"{name}, question {n}") for n, raw in enumerate(data.get("question", []), start=1)]
    if not items:
        raise ValueError(f"{name} has no [[question]]")
    return Bank(lesson=lesson, title=data.get("title", "Check yourself"), items=items)


def banks() -> list[Bank]:
    """Every lesson's bank, in lesson order."""
    names = sorted(p.name for p in resources.files(__package__).iterdir() if p.name.endswith(".toml"))
    return [bank(n.removeprefix("lesson").removesuffix(".toml")) for n in names]


def student_seed() -> str:
    """Whose order of choices to draw: $MAILCOURSE_SEED, else $JUPYTERHUB_USER, else the login name."""
    for variable in ("MAILCOURSE_SEED", "JUPYTERHUB_USER"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container with no user name
        return "student"


def arrange(bank: Bank, seed: str) -> list[tuple[Item, list[str], int]]:
    """Each question with its choices in this student's order, and the right choice's index there.

    The order depends only on the seed, the lesson and the question, so it is
    stable across re-runs. If every right answer of a lesson happened to land
    in one position, the last question's answer is moved one place, so that
    "always pick B" never passes.
    """
    arranged = []
    for number, item in enumerate(bank.items, start=1):
        choices = item.choices
        # A string seed is hashed with SHA-512 by random.Random: the same order on every machine.
        random.Random(f"{seed}/{bank.lesson}/{number}").shuffle(choices)
        right = choices.index(str(item.answer)) if item.kind == "choice" else -1
        arranged.append((item, choices, right))
    multiple = [n for n, (item, _, _) in enumerate(arranged) if item.kind == "choice"]
    if len(multiple) >= 2 and len({arranged[n][2] for n in multiple}) == 1:
        item, choices, right = arranged[multiple[-1]]
        other = (right + 1) % len(choices)
        choices[right], choices[other] = choices[other], choices[right]
        arranged[multiple[-1]] = (item, choices, other)
    return arranged


def quiz(lesson: str, seed: str | None = None) -> Quiz:
    """The quiz of ``lesson`` for this student (see `student_seed`), as a widget."""
    from ..viz.widgets import Question, Quiz

    chosen = bank(lesson)
    questions = [Question(item.prompt, choices=choices, answer=right, explain=item.explain)
                 if item.kind == "choice" else
                 Question(item.prompt, answer=item.answer, explain=item.explain, code=item.kind == "code")
                 for item, choices, right in arrange(chosen, seed if seed is not None else student_seed())]
    return Quiz(questions, title=chosen.title)
