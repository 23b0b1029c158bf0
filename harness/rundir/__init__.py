"""The run directory: its layout, writers and readers."""
