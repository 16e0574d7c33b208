"""The MMLU few-shot prompt of Hendrycks et al. (2021), shared by every scorer.

Base-model scoring and instruction-tuned scoring must show a model the same
text for the same question, or their calibration curves are not comparable;
hence one place that builds it.

One deliberate departure: Hendrycks' ``format_subject`` joins the words with a
leading space (``"about  abstract algebra."``, two spaces). We write a single
space, as most later reimplementations do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CHOICES = ("A", "B", "C", "D")
HEADER = "The following are multiple choice questions (with answers) about {}.\n\n"


def format_subject(subject: str) -> str:
    """``"high_school_physics"`` -> ``"high school physics"``."""
    return subject.replace("_", " ")


def format_example(row: Mapping, include_answer: bool = True) -> str:
    """One question with its lettered options, e.g. ``"Q\\nA. x\\n...\\nAnswer:"``.

    ``row`` needs ``question``, ``A``-``D`` and, when ``include_answer``, the
    ``answer`` letter. Without the answer the text ends in ``"Answer:"`` with no
    trailing space, so that the model's next token is " A", " B", ...
    """
    text = row["question"]
    for letter in CHOICES:
        text += f"\n{letter}. {row[letter]}"
    text += "\nAnswer:"
    if include_answer:
        text += f" {row['answer']}\n\n"
    return text


def build_prompt(subject: str, shots: Iterable[Mapping], question_row: Mapping) -> str:
    """Header, the answered dev examples in order, then the open question."""
    parts = [HEADER.format(format_subject(subject))]
    parts.extend(format_example(shot, include_answer=True) for shot in shots)
    parts.append(format_example(question_row, include_answer=False))
    return "".join(parts)
