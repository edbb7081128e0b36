"""`Quiz` and `Question`: a few questions at the end of a lesson, checked at once.

    >>> quiz = Quiz([
    ...     Question("Which reply asks for the message text?", choices=["250", "354", "221"], answer=1,
    ...              explain="354: start mail input (RFC 5321 section 4.2.2)."),
    ...     Question("Which command names a recipient?", answer="RCPT TO",
    ...              explain="RCPT TO, once per recipient (section 3.3)."),
    ... ], title="The SMTP transaction")
    >>> quiz                 # in a notebook: radio buttons, text fields, "Check"
    >>> quiz.static()        # the questions with their answers, folded away

A lesson does not build its quiz in a cell the student reads: its questions
live in `mailcourse.quizzes` and ``check.quiz("02")`` builds this widget.
Displayed, a quiz carries its own fallback for viewers without a kernel
(GitHub, nbviewer): the questions, each answer folded in a <details> block.

A question with ``choices`` is multiple choice and ``answer`` is the index of
the right choice; one without is fill-in and ``answer`` is the expected text
(or several accepted texts), compared without regard to case or extra
spaces. "Check" says right or wrong and always gives the explanation: the
point is to learn, not to score.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Sequence

from .common import WidgetView, classed
from .static import StaticView

if TYPE_CHECKING:
    import ipywidgets


def _normal(text: str) -> str:
    return " ".join(str(text).split()).casefold()


class Question(WidgetView):
    """One question: multiple choice (``choices``, ``answer`` an index) or fill-in (``answer`` text)."""

    def __init__(self, prompt: str, choices: Sequence[str] | None = None,
                 answer: int | str | Sequence[str] = 0, explain: str = "", code: bool = False) -> None:
        self.prompt = prompt
        self.code = code  # a typed reply code: a narrow field that asks for three digits
        self.choices = list(choices) if choices is not None else None
        self.explain = explain
        if self.choices is not None:
            if not isinstance(answer, int) or not 0 <= answer < len(self.choices):
                raise ValueError(f"answer must be the index of one of the {len(self.choices)} choices")
            self.answer: int | list[str] = answer
        else:
            accepted = [answer] if isinstance(answer, str) else [str(a) for a in answer]  # type: ignore[union-attr]
            if not accepted:
                raise ValueError("a fill-in question needs at least one accepted answer")
            self.answer = accepted
        self.feedback_text = ""
        self.number = 1  # set by the Quiz that holds it
        self._build()

    @property
    def correct(self) -> str:
        """The right answer, as text."""
        if self.choices is not None:
            assert isinstance(self.answer, int)
            return self.choices[self.answer]
        assert isinstance(self.answer, list)
        return self.answer[0]

    def is_right(self, response: int | str | None) -> bool:
        """Whether ``response`` (a choice's index or text, or the typed text) is right."""
        if response is None:
            return False
        if self.choices is not None:
            if isinstance(response, int):
                return response == self.answer
            return _normal(response) == _normal(self.correct)
        assert isinstance(self.answer, list)
        return _normal(str(response)) in {_normal(a) for a in self.answer}

    def respond(self, response: int | str) -> str:
        """Select or type ``response``, then press "Check" (as a student would); returns the feedback."""
        if self.choices is not None:
            self.input.value = self.choices[response] if isinstance(response, int) else response
        else:
            self.input.value = str(response)
        self.check_button.click()
        return self.feedback_text

    def check(self) -> str:
        """Judge what the widget holds now and show the feedback; returns it as text."""
        value = self.input.value
        if self.choices is not None and value is None:
            self.feedback_text = "Choose an answer first."
        elif self.choices is None and not str(value).strip():
            self.feedback_text = "Type an answer first."
        else:
            right = self.is_right(value)
            self.feedback_text = ("Right. " if right else "Not quite. ") + self.explain
        colour = "#1a7f37" if self.feedback_text.startswith("Right") else "#a00"
        self.feedback.value = f'<span style="color:{colour}">{html.escape(self.feedback_text)}</span>'
        return self.feedback_text

    def markdown(self) -> str:
        """The question and its answer, as markdown (for `Quiz.static`)."""
        lines = [f"{self.number}. {self.prompt}"]
        if self.choices is not None:
            lines += [f"    - {'**' + c + '**' if i == self.answer else c}" for i, c in enumerate(self.choices)]
        lines.append(f"\n    Answer: **{self.correct}**. {self.explain}".rstrip())
        return "\n".join(lines)

    def text(self) -> str:
        lines = [f"{self.number}. {self.prompt}"]
        if self.choices is not None:
            lines += [f"   {'*' if i == self.answer else ' '} {c}" for i, c in enumerate(self.choices)]
        lines.append(f"   Answer: {self.correct}. {self.explain}".rstrip())
        return "\n".join(lines)

    def static(self) -> StaticView:
        """This question with its answer (see `Quiz.static`)."""
        return _answers("Question", [self])

    def _build(self) -> None:
        import ipywidgets as w

        self.prompt_view = w.HTML(f"<b>{html.escape(self.prompt)}</b>")
        if self.choices is not None:
            self.input: ipywidgets.ValueWidget = classed(
                w.RadioButtons(options=self.choices, value=None, layout=w.Layout(width="auto")), "mc-quiz-choices")
        else:
            placeholder, width = ("reply code, e.g. 250", "170px") if self.code else ("your answer", "300px")
            self.input = classed(w.Text(placeholder=placeholder, layout=w.Layout(width=width)), "mc-quiz-text")
        self.check_button = classed(w.Button(description="Check", layout=w.Layout(width="90px")), "mc-quiz-check")
        self.check_button.on_click(lambda _: self.check())
        self.feedback = classed(w.HTML(), "mc-quiz-feedback")
        self.widget = classed(w.VBox([self.prompt_view, self.input, w.HBox([self.check_button, self.feedback])],
                                     layout=w.Layout(margin="0 0 10px 0")), "mc-quiz-question")


class Quiz(WidgetView):
    """Several questions under a title, each with its own "Check" button."""

    def __init__(self, questions: Sequence[Question], title: str = "Check yourself") -> None:
        self.questions = list(questions)
        self.title = title
        for number, question in enumerate(self.questions, start=1):
            question.number = number
            question.prompt_view.value = f"<b>{number}. {html.escape(question.prompt)}</b>"
        import ipywidgets as w

        self.widget = classed(w.VBox([w.HTML(f"<h4>{html.escape(title)}</h4>"),
                                      *(q.widget for q in self.questions)]), "mc-quiz")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            # What GitHub and nbviewer show: the questions, each answer folded away.
            bundle["text/html"] = self.html()
            bundle["text/plain"] = f"{self.title}: {len(self.questions)} questions; run the notebook to answer them."
        return bundle

    def html(self) -> str:
        """The questions as HTML, each answer and explanation inside a closed <details>."""
        items = []
        for q in self.questions:
            choices = "".join(f"<li>{html.escape(c)}</li>" for c in q.choices or [])
            items.append(f"<li><b>{html.escape(q.prompt)}</b>" + (f"<ul>{choices}</ul>" if choices else "")
                         + f"<details><summary>Answer</summary><b>{html.escape(q.correct)}</b>. "
                         f"{html.escape(q.explain)}</details></li>")
        return f"<h4>{html.escape(self.title)}</h4><ol>{''.join(items)}</ol>"

    def static(self) -> StaticView:
        """The questions with their answers: markdown folded in a <details> block, for GitHub readers.

        Folded, so that a reader of the notebook can try first and open the
        answers after.
        """
        return _answers(self.title, self.questions)


def _answers(title: str, questions: Sequence[Question]) -> StaticView:
    body = "\n\n".join(q.markdown() for q in questions)
    markdown = (f"<details>\n<summary>{html.escape(title)}: the questions with their answers"
                f"</summary>\n\n{body}\n\n</details>\n")
    text = "\n\n".join([f"{title}: the questions with their answers", *(q.text() for q in questions)])
    return StaticView(text, markdown=markdown)
