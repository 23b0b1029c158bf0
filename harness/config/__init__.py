"""Configuration (pure): scenario dataclasses, strict loading, gate metrics, fault schemas.

One concept per module:

- :mod:`~harness.config.scenario`: the frozen dataclasses of a scenario.
- :mod:`~harness.config.loader`: a file (and ``--set`` edits) in, a Scenario or every error out.
- :mod:`~harness.config.files`: reading a user's file: regular files only, with a size limit.
- :mod:`~harness.config.compose`: YAML to nodes, bounded (nesting, nodes, aliases, expansion).
- :mod:`~harness.config.guards`: a target host beyond loopback must be allowed; a target PID
  must be one the harness may touch.
- :mod:`~harness.config.sections`: each section's keys, as a table of checks and parsers.
- :mod:`~harness.config.nodes`: the YAML node walker that collects errors with key and line.
- :mod:`~harness.config.checks`: value checks (``expected X, got Y``), shared with the flags.
- :mod:`~harness.config.sets`: ``--set KEY.PATH=VALUE`` edits of the YAML tree.
- :mod:`~harness.config.overrides`: ``--duration``, ``--users``, ``--target-url``,
  ``--allow-host`` and co.
- :mod:`~harness.config.secret`: where the signing secret comes from, and reading it.
- :mod:`~harness.config.serialise`: a scenario back to plain data (``scenario.json``).
- :mod:`~harness.config.metrics`: the gate-metric registry.
- :mod:`~harness.config.faults`: each chaos fault's metadata and typed parameters.

Nothing here imports the load generator, the chaos implementations or any I/O library.
"""
