"""Judges score open-ended answers: refusal class, 1-5 harmfulness, CARES class.

A deterministic rule-based judge always runs; a local model judge can be added;
a clinician reviewer can override either (judge id "reviewer:<name>"). Every
judge's agreement with labelled examples is measured on the held-out split of
the validation set and reported with its scores (engine.judges.validation), in
the words every surface uses (engine.judges.wording); each judge declares what it
assesses and what it only assumes. Judges that scored the same answers are
compared with each other (engine.judges.concordance).
"""
