"""al.compile: trace a step once, rewrite its graph, run it as generated code.

Read in the order data flows: trace.py (run the function, record everything,
check two traces agree) -> ir.py (the program as instructions over the op
table) -> passes.py (graph -> graph rewrites) -> codegen.py (Python + fused
Numba kernels) -> api.py (`al.compile`, guards, replay, fallback).
"""
from .api import CompileWarning, Compiled, compile  # noqa: A004

__all__ = ["compile", "Compiled", "CompileWarning"]
