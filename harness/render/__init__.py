"""Rendering: the terminal summary, HTML, charts, JUnit, Markdown and CSV of a run."""
