"""Analysis (pure: pandas, nothing that draws, no I/O at import): a run in, a typed summary out.

- :mod:`~harness.analysis.run`: the run read once (meta, attempts with ``t_s``, ``end_s``,
  ``phase``; samples; chaos windows); :mod:`~harness.analysis.frames` types its frames;
- :mod:`~harness.analysis.stats`: one definition of counted, rates and percentiles (no pandas);
- :mod:`~harness.analysis.phases`: which chaos phase each attempt belongs to;
- :mod:`~harness.analysis.summary`: the typed summary and ``summary.json`` (its schema:
  :mod:`~harness.analysis.summary_schema`, generic rules: :mod:`~harness.analysis.jsontypes`);
- :mod:`~harness.analysis.summarize`: run -> summary, from :mod:`~harness.analysis.sections`,
  :mod:`~harness.analysis.recovery` and :mod:`~harness.analysis.findings`;
- :mod:`~harness.analysis.gates`: gates against the summary; :mod:`~harness.analysis.verdict`:
  the run's verdict;
- :mod:`~harness.analysis.compare_rules` and :mod:`~harness.analysis.compare_rows`: two
  summaries compared;
- :mod:`~harness.analysis.timeline`: the charts' time bins.
"""
