"""The command line: one module per command; the only place that parses argv and picks exit
codes."""
