"""The report's charts (matplotlib, Agg): one module per chart family."""
