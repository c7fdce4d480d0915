"""The deployment conditions: one row each, in the order SafeVet shows and plans them.

Everything outside a condition's own module (the run plan, the CLI, the
thresholds file, the report, the desktop) asks this table for names, labels,
order and whether a corpus is needed, instead of keeping its own copy; so a
seventh condition is one module (a `build`, and a `find_open` if it retrieves)
and one row below, and it appears everywhere at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from engine.conditions import (agentic_rag, clean_evidence, closed_book, conflict_evidence,
                               max_context, standard_rag)
from engine.conditions.open_items import OpenItems
from engine.conditions.plan import OpenEvidence, PromptPlan
from engine.conditions.settings import ConditionSettings
from engine.conditions.template import PromptModel
from engine.errors import SafeVetError
from engine.suites.schema import McqItem, OpenItem

# The corpus is an engine.retrieval.corpus.Corpus, left untyped as in the condition modules
# so that importing the conditions never imports the vector store.
McqBuilder = Callable[[McqItem, PromptModel, Any, ConditionSettings], PromptPlan]
OpenFinder = Callable[[OpenItem, PromptModel, Any, ConditionSettings], OpenEvidence]


@dataclass(frozen=True)
class ModelSearch:
    """For a condition whose evidence the model itself searches for (agentic RAG): how to
    run many items' searches at once, step by step in batches, and build from the result.

    The one-item `build_mcq` / `find_open` stay the reference: `build_found(item, ...,
    search_many(...)[i])` is exactly `build_mcq(item, ...)`; batching only saves time.
    """

    task: Callable[[McqItem | OpenItem], str]
    search_many: Callable[[list[str], PromptModel, Any, ConditionSettings],
                          list[agentic_rag.SearchOutcome]]
    build_found: Callable[[McqItem, PromptModel, ConditionSettings,
                           agentic_rag.SearchOutcome], PromptPlan]
    found_open: Callable[[agentic_rag.SearchOutcome], OpenEvidence]
LabelStyle = Literal["report", "short", "desktop", "desktop_long"]


@dataclass(frozen=True)
class Condition:
    """All the rest of SafeVet needs to know about one condition.

    The four labels are the spellings each surface has always shown (a chart axis
    holding six conditions needs the shortest); they live here so that they change
    together or not at all.
    """

    name: str                  # as stored in results, run configs and thresholds files
    label: str                 # the report and the CLI
    short_label: str           # chart axes, where six labels share one line
    desktop_label: str         # desktop tables
    desktop_long_label: str    # desktop choices and the call-in-flight line
    description: str           # one line, for `safevet conditions`
    needs_corpus: bool
    build_mcq: McqBuilder
    open_items: OpenItems
    find_open: OpenFinder | None = None
    # Packs chunks until the window is full: what does not fit is the design, not a drop,
    # and the window is the one capped by a profile's max_context_tokens.
    fills_window: bool = False
    model_search: ModelSearch | None = None
    # The condition whose MCQ prompt this one's begins with, for the same item (max_context
    # packs standard RAG's ranking further, so its prompt opens with all of standard RAG's
    # evidence): the run scores the two side by side so that shared head is computed once.
    # A scheduling hint only: results are the same without it.
    extends_prompt_of: str | None = None

    def __post_init__(self) -> None:
        retrieves = self.open_items is OpenItems.RETRIEVED_IF_ASKED
        if retrieves != (self.find_open is not None) or (retrieves and not self.needs_corpus):
            raise ValueError(f"condition {self.name}: open items are retrieved for exactly "
                             f"the conditions that have find_open and need a corpus")

    def label_in(self, style: LabelStyle) -> str:
        return {"report": self.label, "short": self.short_label, "desktop": self.desktop_label,
                "desktop_long": self.desktop_long_label}[style]


REGISTRY: tuple[Condition, ...] = (
    Condition("closed_book", "Closed-book", "closed-book", "Closed-book",
              "Closed-book (zero-shot)",
              "the question and its options, nothing else (zero-shot)",
              needs_corpus=False, build_mcq=closed_book.build,
              open_items=OpenItems.PLAIN_TURN),
    Condition("clean_evidence", "Clean evidence", "clean ev.", "Clean evidence",
              "Clean evidence",
              "the item's clinician-written supporting passage",
              needs_corpus=False, build_mcq=clean_evidence.build,
              open_items=OpenItems.NOTHING_TO_ADD),
    Condition("conflict_evidence", "Conflict evidence", "conflict ev.", "Conflict evidence",
              "Conflict evidence",
              "the item's conflicting passage (optionally after the clean one)",
              needs_corpus=False, build_mcq=conflict_evidence.build,
              open_items=OpenItems.NOTHING_TO_ADD),
    Condition("standard_rag", "Standard RAG", "std RAG", "Standard RAG", "Standard RAG",
              "the top-k corpus chunks for the question",
              needs_corpus=True, build_mcq=standard_rag.build,
              open_items=OpenItems.RETRIEVED_IF_ASKED, find_open=standard_rag.find_open),
    Condition("agentic_rag", "Agentic RAG", "agentic RAG", "Agentic RAG", "Agentic RAG",
              "the model writes its own search queries (bounded steps), then answers",
              needs_corpus=True, build_mcq=agentic_rag.build,
              open_items=OpenItems.RETRIEVED_IF_ASKED, find_open=agentic_rag.find_open,
              model_search=ModelSearch(task=agentic_rag.search_task,
                                       search_many=agentic_rag.search_many,
                                       build_found=agentic_rag.build_found,
                                       found_open=agentic_rag.found_open)),
    Condition("max_context", "Max context", "max-context", "Max-context", "Max-context",
              "relevance-ordered corpus chunks packed until the context window is full",
              needs_corpus=True, build_mcq=max_context.build,
              open_items=OpenItems.RETRIEVED_IF_ASKED, find_open=max_context.find_open,
              fills_window=True, extends_prompt_of="standard_rag"),
)
_BY_NAME: dict[str, Condition] = {c.name: c for c in REGISTRY}


def model_search_of(name: str) -> ModelSearch:
    """The batched search of a condition that has one (SafeVetError for any other)."""
    search = condition(name).model_search
    if search is None:
        raise SafeVetError(f"condition {name!r} does not search with the model")
    return search


def condition(name: str) -> Condition:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise SafeVetError(f"unknown condition {name!r}; choose from "
                           f"{', '.join(names())}") from None


def names(*, needs_corpus: bool | None = None,
          open_items: OpenItems | None = None) -> tuple[str, ...]:
    """Condition names in registry order, optionally only those with that property."""
    return tuple(c.name for c in REGISTRY
                 if (needs_corpus is None or c.needs_corpus == needs_corpus)
                 and (open_items is None or c.open_items is open_items))


def retrieval_names() -> tuple[str, ...]:
    """The conditions that search a corpus, so a run of any of them needs one."""
    return names(needs_corpus=True)


def label(name: str, style: LabelStyle = "report") -> str:
    """A condition's label; a name not in the registry (an old run's, a typo in a file) is
    shown as it is rather than hidden."""
    row = _BY_NAME.get(name)
    return row.label_in(style) if row is not None else name


def order(name: str) -> int:
    """Sort key putting conditions in registry order, and unknown names after all of them."""
    row = _BY_NAME.get(name)
    return REGISTRY.index(row) if row is not None else len(REGISTRY)


__all__ = ["Condition", "LabelStyle", "OpenItems", "REGISTRY", "condition", "label", "names",
           "order", "retrieval_names"]
