"""One module per fault; each registers itself with :func:`harness.chaos.base.register`."""
