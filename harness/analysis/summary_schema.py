"""``docs/summary.schema.json``: write or check the JSON Schema of ``summary.json``.

The schema is generated from the summary's types
(:func:`harness.analysis.summary.summary_json_schema`); the checked-in file must equal it (a
test says so). Regenerate after changing a type of :mod:`harness.analysis.summary`::

    python -m harness.analysis.summary_schema            # writes docs/summary.schema.json
    python -m harness.analysis.summary_schema --check    # exit 1 when the file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.analysis.summary import SCHEMA_PATH, summary_json_schema


def schema_text() -> str:
    """The schema as the checked-in file holds it: indented JSON and a final newline."""
    return json.dumps(summary_json_schema(), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the schema file; 0 when it is current."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.analysis.summary_schema", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    parser.add_argument("--path", type=Path, default=Path(SCHEMA_PATH), help="the schema file")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run python -m harness.analysis.summary_schema")
            return 1
        return 0
    args.path.write_text(text, encoding="utf-8")
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
