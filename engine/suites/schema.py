"""Pydantic models for the suite nouns of DESIGN.md.

Options carry tags (`high_risk`, `unsafe`, `contradicts_evidence`) the way HELM
references do, so every safety metric is a lookup on the chosen option rather
than a judgement made at scoring time.

Suites arrive from elsewhere, so the models are strict: a `"yes"` where a
boolean belongs or a `"52"` where a count belongs is a mistake in the file,
not something to guess at (`bool("no")` is True), and a string holding a NUL
byte or a terminal escape is refused wherever it sits.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, field_validator,
                      model_validator)

from engine.inputfiles import control_char_field

OptionLabel = Literal["high_risk", "unsafe", "contradicts_evidence"]
Expected = Literal["refuse", "caution", "comply"]
AttackMethod = Literal["direct", "indirect", "obfuscate", "role_play"]
OpenFamily = Literal["harmful_request", "benign_boundary", "adversarial"]
LETTERS = "ABCDEFGH"
# Labels the keyed answer may not carry: every safety rate counts the chosen option's labels,
# so a labelled key would score the right answer as a harm (or a contradiction).
KEY_FORBIDDEN_LABELS: tuple[str, ...] = ("high_risk", "unsafe", "contradicts_evidence")


def _iso_text_or_date(value: object) -> object:
    """Lax date parsing would also read 1700000000 as a Unix time; only text or a date."""
    if isinstance(value, (str, date)):
        return value
    raise ValueError(f"expected an ISO date such as 2026-01-31, got {value!r}")


# JSON has no date type: a changelog date is an ISO string in suite.json, which strict mode
# would refuse when validating the parsed dict, so this one field parses the string.
IsoDate = Annotated[date, Field(strict=False), BeforeValidator(_iso_text_or_date)]


def control_char_message(char: str) -> str:
    """What is wrong with text holding a control code, said the same by schema and importers."""
    return (f"control character {char} in the text (NUL bytes and terminal control codes are "
            f"not allowed in a suite)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: object) -> object:
        """Checked on the raw input, so the message can name the nested field (options.B)."""
        found = control_char_field(data)
        if found:
            field, char = found
            raise ValueError(f"{field}: {control_char_message(char)}")
        return data


class McqItem(_Strict):
    """A multiple-choice question with evidence passages and labelled options."""

    kind: Literal["mcq"] = "mcq"
    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    options: dict[str, str]
    answer: str
    option_labels: dict[str, list[OptionLabel]] = Field(default_factory=dict)
    clean_evidence: str = ""
    conflict_evidence: str = ""
    topic: str = ""
    retired: bool = False

    @field_validator("options")
    @classmethod
    def _options_are_lettered(cls, options: dict[str, str]) -> dict[str, str]:
        if not 2 <= len(options) <= len(LETTERS):
            raise ValueError(f"expected 2 to {len(LETTERS)} options, got {len(options)}")
        expected = list(LETTERS[: len(options)])
        if list(options) != expected:
            raise ValueError(f"expected option letters {', '.join(expected)} in order, "
                             f"got {', '.join(options)}")
        for letter, text in options.items():
            if not str(text).strip():
                raise ValueError(f"option {letter} is empty")
        return options

    @model_validator(mode="after")
    def _answer_and_labels_name_offered_options(self) -> "McqItem":
        if self.answer not in self.options:
            raise ValueError(f"answer: expected one of {', '.join(self.options)}, "
                             f"got {self.answer!r}")
        for letter in self.option_labels:
            if letter not in self.options:
                raise ValueError(f"option_labels: label on unknown option letter {letter!r} "
                                 f"(options are {', '.join(self.options)})")
        on_key = [lab for lab in self.labels_of(self.answer) if lab in KEY_FORBIDDEN_LABELS]
        if on_key:
            raise ValueError(f"option_labels: the key {self.answer} is labelled "
                             f"{', '.join(on_key)}; the right answer would carry the label into "
                             f"every safety rate, so label only wrong options (or fix the key)")
        return self

    def labels_of(self, letter: str | None) -> list[str]:
        return list(self.option_labels.get(letter, [])) if letter else []


class OpenItem(_Strict):
    """An open-ended prompt judged for refusal, caution or compliance."""

    kind: Literal["open"] = "open"
    id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    expected: Expected
    category: str = ""
    family: OpenFamily = "harmful_request"
    harm_level: int | None = Field(default=None, ge=0, le=3)
    method: AttackMethod | None = None
    difficulty: Literal["easy", "medium", "hard"] | None = None
    base_prompt: str | None = None
    reference_response: str | None = None
    retired: bool = False


SuiteItem = Annotated[Union[McqItem, OpenItem], Field(discriminator="kind")]


class ChangelogEntry(_Strict):
    version: str
    date: IsoDate
    summary: str
    items: list[str] = Field(default_factory=list)
    author: str = ""


class SuiteManifest(_Strict):
    """`suite.json`: what the suite is and the hash of exactly which items."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str = ""
    license: str = Field(min_length=1)
    source: str = Field(min_length=1)
    item_count: int = Field(ge=1)  # an empty suite measures nothing, so no run may start from one
    items_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    demonstration: bool = False
    changelog: list[ChangelogEntry] = Field(default_factory=list)


class Suite(BaseModel):
    """A loaded, hash-checked suite."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    manifest: SuiteManifest
    items: list[McqItem | OpenItem]
    path: str | None = None

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def version(self) -> str:
        return self.manifest.version

    def active_items(self) -> list[McqItem | OpenItem]:
        return [it for it in self.items if not it.retired]

    def mcq_items(self) -> list[McqItem]:
        return [it for it in self.active_items() if isinstance(it, McqItem)]

    def open_items(self) -> list[OpenItem]:
        return [it for it in self.active_items() if isinstance(it, OpenItem)]

    def item(self, item_id: str) -> McqItem | OpenItem:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)
