"""The question banks (mailcourse/quizzes): read, arranged per student, and fair.

A quiz that can be passed without knowing anything teaches nothing: the
right answer must not be the longest choice most of the time, nor sit in
the same place for everyone. These tests read every lesson's bank.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from mailcourse.quizzes import Bank, arrange, bank, banks, quiz, student_seed

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = {p.name.split("_", 1)[0]: p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb"))}
BANKS = {b.lesson: b for b in banks()}
SEEDS = [f"student{n:03d}" for n in range(60)]

def test_every_lesson_has_a_bank_and_every_bank_a_lesson() -> None:
    assert sorted(BANKS) == sorted(LESSONS)


@pytest.mark.parametrize("lesson", sorted(LESSONS))
def test_the_notebook_asks_for_its_quiz_and_holds_no_answer(lesson: str) -> None:
    nb = nbformat.read(LESSONS[lesson], as_version=4)
    quiz_cells = [c for c in nb.cells if "quiz" in c.metadata.get("tags", [])]
    assert [c.source.strip() for c in quiz_cells] == [f'check.quiz("{lesson}")']
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not re.search(r"\bQuestion\(|\bQuiz\(|answer\s*=\s*\d", cell.source), cell.source


def _choice_items(b: Bank) -> list:
    return [item for item in b.items if item.kind == "choice"]


@pytest.mark.parametrize("lesson", sorted(BANKS))
def test_the_right_answer_is_the_longest_choice_in_at_most_a_third(lesson: str) -> None:
    items = _choice_items(BANKS[lesson])
    longest = [item.prompt for item in items
               if all(len(str(item.answer)) > len(w) for w in item.wrong)]
    assert len(longest) * 3 <= len(items), (
        f"lesson {lesson}: the right answer is the longest choice in {len(longest)} of {len(items)} "
        f"questions: {longest}")


@pytest.mark.parametrize("lesson", sorted(BANKS))
def test_a_quiz_is_short(lesson: str) -> None:
    """Three to five questions (NOTEBOOK_GUIDE.md): the end of a period, not an exam."""
    assert 3 <= len(BANKS[lesson].items) <= 5


@pytest.mark.parametrize("lesson", sorted(BANKS))
def test_each_bank_asks_for_typed_answers_too(lesson: str) -> None:
    kinds = {item.kind for item in BANKS[lesson].items}
    assert kinds & {"text", "code"}, f"lesson {lesson} has only multiple-choice questions"
    assert len(_choice_items(BANKS[lesson])) >= 2


@pytest.mark.parametrize("lesson", sorted(BANKS))
def test_the_right_answer_never_sits_in_one_position_for_a_whole_lesson(lesson: str) -> None:
    for seed in SEEDS:
        positions = [right for item, _, right in arrange(BANKS[lesson], seed) if item.kind == "choice"]
        assert len(set(positions)) > 1, (lesson, seed, positions)


@pytest.mark.parametrize("lesson", sorted(BANKS))
def test_students_get_different_orders_and_each_the_same_one_every_time(lesson: str) -> None:
    b = BANKS[lesson]
    for number, item in enumerate(b.items):
        if item.kind != "choice":
            continue
        places = {arrange(b, seed)[number][2] for seed in SEEDS}
        assert len(places) >= 2, f"lesson {lesson}: question {number + 1} has its answer in one place for all"
    assert arrange(b, "alice") == arrange(b, "alice")
    for item, choices, right in arrange(b, "alice"):
        assert sorted(choices) == sorted(item.choices)
        if item.kind == "choice":
            assert choices[right] == item.answer


def test_the_widget_shows_the_arranged_order_and_judges_it() -> None:
    widget = quiz("02", seed="alice")
    for question, (item, choices, right) in zip(widget.questions, arrange(bank("02"), "alice")):
        if item.kind == "choice":
            assert list(question.input.options) == choices
            assert question.respond(right).startswith("Right.")
            assert question.respond((right + 1) % len(choices)).startswith("Not quite.")
        else:
            assert question.respond(item.answer[0]).startswith("Right.")


def test_the_fallback_for_viewers_without_a_kernel_folds_every_answer() -> None:
    import html

    widget = quiz("02", seed="alice")
    bundle = widget._repr_mimebundle_()
    page = bundle["text/html"]
    assert page.count("<details><summary>Answer</summary>") == len(widget.questions)
    unfolded = re.sub(r"<details>.*?</details>", "", page, flags=re.S)
    for question in widget.questions:
        assert html.escape(question.prompt) in unfolded
        assert html.escape(question.explain) not in unfolded
        if question.choices is None:
            assert html.escape(question.correct) not in unfolded
    assert "answer them" in bundle["text/plain"]


STUDENT = NOTEBOOKS.parent / "student"


@pytest.mark.parametrize("lesson", sorted(LESSONS))
def test_no_typed_answer_is_spelled_out_in_a_code_cell_of_the_student_edition(lesson: str) -> None:
    """A student reads every code cell before the quiz (scaffolds included): none may hold a typed answer."""
    nb = nbformat.read(STUDENT / LESSONS[lesson].name, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for item in BANKS[lesson].items:
        if item.kind in ("text", "code"):
            for answer in item.answer:
                assert not re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", code, re.IGNORECASE), (
                    f"lesson {lesson}: the answer {answer!r} to {item.prompt!r} is in a code cell")


@pytest.mark.parametrize("lesson", sorted(LESSONS))
def test_the_committed_instructor_edition_shows_the_quiz_folded_for_github(lesson: str) -> None:
    """What GitHub and nbviewer show of the quiz cell: the questions, each answer in a closed <details>."""
    nb = nbformat.read(LESSONS[lesson], as_version=4)
    (cell,) = [c for c in nb.cells if "quiz" in c.metadata.get("tags", [])]
    pages = [o.data["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]
    assert len(pages) == 1, f"lesson {lesson}: run tools/build_notebooks.py"
    assert pages[0].count("<details><summary>Answer</summary>") == len(BANKS[lesson].items)


def test_the_seed_comes_from_the_hub_user_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILCOURSE_SEED", raising=False)
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    assert student_seed() == "ada"
    monkeypatch.setenv("MAILCOURSE_SEED", "class-3b")
    assert student_seed() == "class-3b"


def test_a_missing_bank_says_where_it_looked() -> None:
    with pytest.raises(LookupError, match="lesson99.toml"):
        bank("99")
