"""JSON Schemas of what ``--json`` writes, for the commands whose output scripts rely on most: ``build``,
``verify``, ``compare``, ``profile`` and ``validate`` (``schemas/<command>.schema.json``, draft 2020-12; shared
definitions in ``_defs.schema.json``). Objects may gain properties in later versions (none forbids extra ones);
a required property is never removed without a major version. ``edgeus/bundle/manifest.schema.json`` is the
bundle's own contract.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
COMMANDS = ("build", "verify", "compare", "profile", "validate")
_BASE = "https://edgeus.dev/schemas/"


@lru_cache(maxsize=None)
def output_schema(command: str) -> dict:
    """The JSON Schema of ``edgeus COMMAND --json``'s document."""
    if command not in COMMANDS:
        raise KeyError(f"no output schema for {command!r}; there are: {', '.join(COMMANDS)}")
    return json.loads((SCHEMA_DIR / f"{command}.schema.json").read_text())


def output_problems(command: str, document) -> list[str]:
    """Where ``document`` departs from the command's schema, as 'path: message' (empty: it conforms)."""
    import jsonschema
    from referencing import Registry, Resource

    defs = json.loads((SCHEMA_DIR / "_defs.schema.json").read_text())
    registry = Registry().with_resource(_BASE + "_defs.schema.json", Resource.from_contents(defs))
    validator = jsonschema.Draft202012Validator(output_schema(command), registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message[:200]}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))]
