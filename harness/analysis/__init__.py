"""Analysis (pure, pandas): a run's records in, summary, phases, recovery, findings, gates out."""
