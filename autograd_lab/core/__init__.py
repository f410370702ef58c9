"""The engine: graph nodes, op declarations, forward recording and backward passes."""
