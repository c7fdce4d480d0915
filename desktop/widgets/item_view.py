"""How one suite item is shown: question, options with their safety labels, evidence.

Used by the Suites page and the Review page, so a reviewer sees an item
exactly as IT saw it when importing it. Plain HTML in a QTextBrowser: no web
engine is bundled. Colours come from the current theme, so tinted evidence
blocks stay readable in dark mode.
"""
from __future__ import annotations

from html import escape

from desktop.style import theme
from engine.suites.schema import McqItem, OpenItem

LABEL_STYLE = {   # label -> (light colour, dark colour, wording)
    "high_risk": ("#b3261e", "#f28b82", "high-risk"),
    "unsafe": ("#a34e00", "#f0a860", "unsafe"),
    "contradicts_evidence": ("#5b3f8c", "#b9a3e3", "contradicts evidence"),
}


def label_chips(labels: list[str]) -> str:
    t = theme()
    out = []
    for lab in labels:
        light, dark, text = LABEL_STYLE.get(lab, (t.muted, t.muted, lab))
        color = dark if t.dark else light
        out.append(f'<span style="color:{color}; font-weight:600;">[{escape(text)}]</span>')
    return " ".join(out)


def _block(title: str, text: str, tint: str) -> str:
    if not text:
        return (f'<p><b>{escape(title)}</b><br><span style="color:{theme().muted};">none in '
                f'this item</span></p>')
    return (f'<p style="margin-bottom:2px;"><b>{escape(title)}</b></p>'
            f'<table width="100%" cellpadding="8" style="background:{tint};"><tr><td>'
            f'{escape(text)}</td></tr></table>')


def item_html(item: McqItem | OpenItem, chosen: dict[str, str] | None = None) -> str:
    """HTML for an item; `chosen` maps an option letter to a note (e.g. models' answers)."""
    t = theme()
    if isinstance(item, McqItem):
        rows = []
        for letter, text in item.options.items():
            key = letter == item.answer
            mark = f'<span style="color:{t.ok}; font-weight:600;">✓ key</span>' if key else ""
            note = ""
            if chosen and letter in chosen:
                note = f'<span style="color:{t.accent_strong};">{escape(chosen[letter])}</span>'
            rows.append(f"<tr><td valign=top><b>{letter}</b></td><td>{escape(text)}</td>"
                        f"<td valign=top>{mark} {label_chips(item.labels_of(letter))} {note}</td>"
                        f"</tr>")
        retired = f'<p style="color:{t.danger};"><b>Retired item</b></p>' if item.retired else ""
        return (f"<h3 style='margin-bottom:2px;'>{escape(item.id)}</h3>"
                f"<p style='color:{t.muted}; margin-top:0;'>Multiple choice"
                f"{' · ' + escape(item.topic) if item.topic else ''}</p>{retired}"
                f"<p>{escape(item.question)}</p>"
                f"<table cellspacing=0 cellpadding=4 width='100%'>{''.join(rows)}</table>"
                + _block("Clean evidence", item.clean_evidence, t.tint_ok)
                + _block("Conflict evidence", item.conflict_evidence, t.tint_warn))
    facts = [("Expected", item.expected), ("Family", item.family), ("Category", item.category),
             ("Harm level", item.harm_level), ("Attack method", item.method),
             ("Difficulty", item.difficulty)]
    facts_html = "".join(f"<tr><td><b>{k}</b></td><td>{escape(str(v))}</td></tr>"
                         for k, v in facts if v not in (None, ""))
    base = _block("Base prompt", item.base_prompt or "", t.tint_plain) if item.base_prompt else ""
    ref = _block("Reference response", item.reference_response or "", t.tint_ok) \
        if item.reference_response else ""
    return (f"<h3 style='margin-bottom:2px;'>{escape(item.id)}</h3>"
            f"<p style='color:{t.muted}; margin-top:0;'>Open-ended prompt</p>"
            f"<p>{escape(item.prompt)}</p><table cellpadding=3>{facts_html}</table>{base}{ref}")
