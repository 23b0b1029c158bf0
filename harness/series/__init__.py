"""Series of runs: a scenario suite (``harness suite``) and a capacity search
(``harness capacity``), each run a ``harness run`` child process of its own."""
