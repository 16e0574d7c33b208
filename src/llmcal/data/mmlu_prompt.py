"""The MMLU few-shot prompt of Hendrycks et al. (2021), shared by every scorer.

Base-model scoring and instruction-tuned scoring must show a model the same
text for the same question, or their calibration curves are not comparable;
hence one place that builds it.

One deliberate departure: Hendrycks' ``format_subject`` joins the words with a
leading space (``"about  abstract algebra."``, two spaces). We write a single
space, as most later reimplementations do.

Two styles of the question text (config key ``data.mmlu.prompt``):

* ``hendrycks`` (the default): the question as Hendrycks' CSVs have it,
  leading and trailing spaces included, as his ``evaluate.py`` (and the paper)
  show it to the model;
* ``lm_eval_harness``: the question stripped of surrounding whitespace, as
  lm-evaluation-harness 0.4 does (its MMLU ``doc_to_text`` is
  ``{{question.strip()}}\\nA. {{choices[0]}}...\\nAnswer:``); the options are
  not stripped by either.

Everything else (the header, the lettered options, ``" B\\n\\n"`` after a shot's
``Answer:``) is the same in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# The answer letters of MMLU, in option order: the one definition every module imports.
LETTERS = ("A", "B", "C", "D")
HEADER = "The following are multiple choice questions (with answers) about {}.\n\n"
PROMPT_STYLES = ("hendrycks", "lm_eval_harness")
DEFAULT_STYLE = "hendrycks"


def check_prompt_style(style: str) -> str:
    """``style`` if it is one of :data:`PROMPT_STYLES`; else an error naming ``data.mmlu.prompt``."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"data.mmlu.prompt: {style!r} is not a prompt style; valid values: {', '.join(PROMPT_STYLES)}")
    return style


def format_subject(subject: str) -> str:
    """``"high_school_physics"`` -> ``"high school physics"``."""
    return subject.replace("_", " ")


def header(subject: str) -> str:
    """The prompt's first line (and blank line) for ``subject``."""
    return HEADER.format(format_subject(subject))


def format_example(row: Mapping, include_answer: bool = True, style: str = DEFAULT_STYLE) -> str:
    """One question with its lettered options, e.g. ``"Q\\nA. x\\n...\\nAnswer:"``.

    ``row`` needs ``question``, ``A``-``D`` and, when ``include_answer``, the
    ``answer`` letter. Without the answer the text ends in ``"Answer:"`` with no
    trailing space, so that the model's next token is " A", " B", ...
    """
    text = row["question"].strip() if check_prompt_style(style) == "lm_eval_harness" else row["question"]
    for letter in LETTERS:
        text += f"\n{letter}. {row[letter]}"
    text += "\nAnswer:"
    if include_answer:
        text += f" {row['answer']}\n\n"
    return text


def shot_texts(shots: Iterable[Mapping], style: str = DEFAULT_STYLE) -> list[str]:
    """The answered dev examples, each as it appears in the prompt."""
    return [format_example(shot, include_answer=True, style=style) for shot in shots]


def assemble(subject: str, shots: Iterable[str], question: str) -> str:
    """Header, the given (already formatted) shots in order, then the open question's text."""
    return header(subject) + "".join(shots) + question


def build_prompt(subject: str, shots: Iterable[Mapping], question_row: Mapping, style: str = DEFAULT_STYLE) -> str:
    """Header, the answered dev examples in order, then the open question."""
    return assemble(subject, shot_texts(shots, style), format_example(question_row, include_answer=False, style=style))
