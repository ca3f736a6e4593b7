"""Refinement and rule filters for generated question-answer pairs.

Refinement shortens answers to a phrase and rejects questions that only make sense with the
passage in hand ("according to the passage", "in the image above"): a retrieval query must
stand on its own. The rule filters then check lengths, that an extractive answer occurs in its
chunk, that the question does not give the answer away, and drop duplicate questions.
Every rejection carries a reason, written to the stage's jsonl for inspection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nyx.answer_metrics import normalize_answer
from nyx.ensemble.prompts import extract_answer

#: Phrases that tie a question to the text it was generated from.
_CONTEXT_NOUNS = (r"passages?|texts?|paragraphs?|articles?|excerpts?|documents?|contexts?|"
                  r"chunks?|sections?|stor(?:y|ies)|images?|figures?|pictures?|photos?|diagrams?|"
                  r"tables?|captions?|authors?|writers?|narrators?|speakers?")
PASSAGE_DEPENDENT = re.compile(
    rf"\b(?:the|this|that|these|those|above|below|following|given|provided|preceding)\s+"
    rf"(?:{_CONTEXT_NOUNS})\b(?!\s+of\b)"  # "the passage of a law", "the author of Hamlet"
    r"|\b(?:above|aforementioned|mentioned|described|shown|depicted|stated|given)\b"
    r"|\baccording to (?:it|them|the text)\b|\bin (?:it|here)\?",
    re.IGNORECASE)

#: Words that say nothing about a question's topic, ignored when checking its grounding.
_GENERIC = frozenset({
    "what", "which", "where", "when", "whom", "whose", "does", "have", "were", "that", "this",
    "these", "those", "there", "their", "about", "after", "before", "into", "than", "then",
    "they", "them", "been", "being", "also", "some", "most", "more", "other", "many", "much",
    "name", "named", "called", "first", "last", "year", "years", "made", "make", "used", "known",
    "kind", "type", "part", "main", "same", "created", "create", "wrote", "written", "found",
    "take", "took", "give", "gave", "show", "shown", "whole", "always", "would", "could",
    "should", "often", "ever", "very", "only", "just"
})


def content_words(text: str) -> set[str]:
    """Normalised words of four letters or more that are not generic question words."""
    return {w for w in normalize_answer(text).split() if len(w) >= 4 and w not in _GENERIC}


def grounding(question: str, context: str) -> float:
    """Share of the question's content words that occur in the context (1.0 with none)."""
    words = content_words(question)
    if not words:
        return 1.0
    return len(words & set(normalize_answer(context).split())) / len(words)


@dataclass
class Verdict:
    kept: bool
    reason: str = ""


def passage_dependent(question: str) -> bool:
    """Whether the question refers to "the passage", "this text", "above" and the like."""
    return PASSAGE_DEPENDENT.search(question) is not None


def refine(question: str, answer: str, max_answer_words: int) -> tuple[str, str, Verdict]:
    """Clean one pair (answer cut to its first phrase, as ``nyx.ensemble.prompts`` extracts
    answers); the verdict rejects passage-dependent questions and empty answers."""
    question = " ".join(question.split()).strip().strip("\"'")
    # Cut to the first phrase but not to the word limit: over-long answers are rejected by the
    # rule filter (with that reason) rather than truncated into something the chunk lacks.
    answer = extract_answer(answer, max_words=max(64, max_answer_words))
    if passage_dependent(question):
        return question, answer, Verdict(False, "passage-dependent question")
    if not answer:
        return question, answer, Verdict(False, "empty answer")
    return question, answer, Verdict(True)


@dataclass
class RuleFilter:
    """Length, extractiveness, leakage and duplicate checks (keeps state for dedupe)."""

    min_question_words: int = 4
    max_question_words: int = 30
    max_answer_words: int = 8
    extractive: bool = True
    #: Share of the question's content words that must occur in the chunk: questions about
    #: something else (a copied demonstration, a hallucinated topic) fall below it.
    min_grounding: float = 0.5

    def __post_init__(self) -> None:
        self._seen: set[str] = set()

    def remember(self, question: str) -> None:
        """Mark a question as kept already (when resuming a stage)."""
        self._seen.add(normalize_answer(question))

    def check(self, question: str, answer: str, context: str) -> Verdict:
        words = len(question.split())
        if words < self.min_question_words:
            return Verdict(False, f"question shorter than {self.min_question_words} words")
        if words > self.max_question_words:
            return Verdict(False, f"question longer than {self.max_question_words} words")
        if not question.rstrip().endswith("?"):
            return Verdict(False, "not a question (no question mark)")
        if not answer.strip():
            return Verdict(False, "empty answer")
        if len(answer.split()) > self.max_answer_words:
            return Verdict(False, f"answer longer than {self.max_answer_words} words")
        norm_answer, norm_question = normalize_answer(answer), normalize_answer(question)
        if not norm_answer:
            return Verdict(False, "answer is only punctuation or articles")
        if f" {norm_answer} " in f" {norm_question} ":
            return Verdict(False, "question contains its answer")
        if self.extractive and f" {norm_answer} " not in f" {normalize_answer(context)} ":
            return Verdict(False, "answer not found in the chunk (extractive mode)")
        if grounding(question, context) < self.min_grounding:
            return Verdict(False, "question not grounded in the chunk")
        if norm_question in self._seen:
            return Verdict(False, "duplicate question")
        self._seen.add(norm_question)
        return Verdict(True)
