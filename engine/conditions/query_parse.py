"""Deciding whether a model's search-query turn is a usable query.

A query is accepted only if the model ended its first line itself (a newline
or end of turn) within the token allowance and it reads as words. Anything else is
"malformed": the agentic loop stops there and the item is flagged, so a model
that cannot drive a search tool is visible in the report instead of being
silently given whatever its garbage retrieved.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DONE_WORDS = ("DONE", "NONE", "NO SEARCH")
_OPTION_LABEL = re.compile(r"^[A-H][.:)]\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
MAX_QUERY_CHARS = 200


@dataclass(frozen=True)
class ParsedQuery:
    query: str | None
    done: bool = False
    malformed: str | None = None     # the reason, when malformed


def parse_query(text: str, finish_reason: str) -> ParsedQuery:
    """The first non-empty line is the query; it must have ended (newline or end of turn)."""
    body = text.lstrip()
    if finish_reason != "stop" and "\n" not in body:
        return ParsedQuery(None, malformed=f"query not finished within the token allowance "
                                           f"(finish_reason={finish_reason})")
    line = body.split("\n", 1)[0] if body else ""
    q = line.strip().strip("\"'`*").strip()
    if q.lower().startswith(("search query:", "query:")):
        q = q.split(":", 1)[1].strip().strip("\"'`")
    q = _OPTION_LABEL.sub("", q)  # small models echo an option ("A. ..."): keep its words
    if not q:
        return ParsedQuery(None, malformed="empty query")
    if q.upper().rstrip(".!") in DONE_WORDS:
        return ParsedQuery(None, done=True)
    if any(ord(ch) < 32 or ch == "\ufffd" for ch in q):
        return ParsedQuery(None, malformed="query contains control or undecodable characters")
    if len(q) > MAX_QUERY_CHARS:
        return ParsedQuery(None, malformed=f"query longer than {MAX_QUERY_CHARS} characters")
    visible = [ch for ch in q if not ch.isspace()]
    wordish = sum(ch.isalnum() or ch in "-'/,.()%" for ch in visible)
    if not _WORD.search(q) or wordish < 0.8 * len(visible):
        return ParsedQuery(None, malformed="query is not made of words")
    return ParsedQuery(q)
