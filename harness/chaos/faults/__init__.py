"""One module per fault; each registers itself with :func:`harness.chaos.base.register`.

A fault's name, kind, summary and parameters are its spec in :mod:`harness.config.faults`
(``spec = CPU_QUOTA``); the module holds only how it is applied and reverted.
"""
