"""Fan-out over a gate: many calls at once, bounded, with failures kept apart.

- `fanout`: `FanOut`, the helper `Gate.map`, `stream`, `broadcast` and `race` delegate to;
- `map`: the worker pool behind `map`, and the argument checks fan-out shares;
- `stream`: `Stream`, outcomes of a lazily pulled input as they complete, with bounded memory;
- `broadcast`: every target at once, with a quorum and a deadline (`broadcast`, `race`).
"""
