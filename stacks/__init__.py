"""Pulumi programs. They import nothing of Sahab's core but its contract types
(controlplane.contract). The runner finds a program by name here, the one registry,
and imports its module only then (the programs import pulumi)."""

from __future__ import annotations

import importlib

from controlplane.contract import StackProgram

# Program name (TenantSpec.program) -> the module whose PROGRAM implements it.
REGISTRY: dict[str, str] = {
    "tenant": "stacks.tenant",
}


def find_program(name: str) -> StackProgram:
    try:
        module = REGISTRY[name]
    except KeyError:
        raise LookupError(f"no stack program named {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    program: StackProgram = importlib.import_module(module).PROGRAM
    return program
