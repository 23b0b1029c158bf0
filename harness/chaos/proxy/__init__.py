"""The TCP chaos proxy in front of the target, and its toxics."""
