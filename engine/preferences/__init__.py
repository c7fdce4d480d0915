"""Preference data (KTO / DPO rows in TRL's formats) from a run's judged failures."""
