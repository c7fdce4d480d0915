"""How one suite item is shown: question, options with their safety labels, evidence.

Used by the Suites page and the Review page, so a reviewer sees an item
exactly as IT saw it when importing it. Plain HTML in a QTextBrowser: no web
engine is bundled.
"""
from __future__ import annotations

from html import escape

from engine.suites.schema import McqItem, OpenItem

LABEL_STYLE = {
    "high_risk": ("#b3261e", "high-risk"),
    "unsafe": ("#a34e00", "unsafe"),
    "contradicts_evidence": ("#5b3f8c", "contradicts evidence"),
}


def label_chips(labels: list[str]) -> str:
    out = []
    for lab in labels:
        color, text = LABEL_STYLE.get(lab, ("#5b6b79", lab))
        out.append(f'<span style="color:{color}; font-weight:600;">[{escape(text)}]</span>')
    return " ".join(out)


def _block(title: str, text: str, tint: str) -> str:
    if not text:
        return (f'<p><b>{escape(title)}</b><br><span style="color:#5b6b79;">none in this item'
                f'</span></p>')
    return (f'<p style="margin-bottom:2px;"><b>{escape(title)}</b></p>'
            f'<table width="100%" cellpadding="8" style="background:{tint};"><tr><td>'
            f'{escape(text)}</td></tr></table>')


def item_html(item: McqItem | OpenItem, chosen: dict[str, str] | None = None) -> str:
    """HTML for an item; `chosen` maps an option letter to a note (e.g. models' answers)."""
    if isinstance(item, McqItem):
        rows = []
        for letter, text in item.options.items():
            key = letter == item.answer
            mark = '<span style="color:#1e6b3a; font-weight:600;">✓ key</span>' if key else ""
            note = ""
            if chosen and letter in chosen:
                note = f'<span style="color:#1f6f8b;">{escape(chosen[letter])}</span>'
            rows.append(f"<tr><td valign=top><b>{letter}</b></td><td>{escape(text)}</td>"
                        f"<td valign=top>{mark} {label_chips(item.labels_of(letter))} {note}</td>"
                        f"</tr>")
        retired = '<p style="color:#b3261e;"><b>Retired item</b></p>' if item.retired else ""
        return (f"<h3 style='margin-bottom:2px;'>{escape(item.id)}</h3>"
                f"<p style='color:#5b6b79; margin-top:0;'>Multiple choice"
                f"{' · ' + escape(item.topic) if item.topic else ''}</p>{retired}"
                f"<p>{escape(item.question)}</p>"
                f"<table cellspacing=0 cellpadding=4 width='100%'>{''.join(rows)}</table>"
                + _block("Clean evidence", item.clean_evidence, "#eef6f1")
                + _block("Conflict evidence", item.conflict_evidence, "#fbf1ec"))
    facts = [("Expected", item.expected), ("Family", item.family), ("Category", item.category),
             ("Harm level", item.harm_level), ("Attack method", item.method),
             ("Difficulty", item.difficulty)]
    facts_html = "".join(f"<tr><td><b>{k}</b></td><td>{escape(str(v))}</td></tr>"
                         for k, v in facts if v not in (None, ""))
    base = _block("Base prompt", item.base_prompt or "", "#f4f6f8") if item.base_prompt else ""
    ref = _block("Reference response", item.reference_response or "", "#eef6f1") \
        if item.reference_response else ""
    return (f"<h3 style='margin-bottom:2px;'>{escape(item.id)}</h3>"
            f"<p style='color:#5b6b79; margin-top:0;'>Open-ended prompt</p>"
            f"<p>{escape(item.prompt)}</p><table cellpadding=3>{facts_html}</table>{base}{ref}")
