"""The kernel: what runs one call through a gate's policies.

- `call`: the `Call` record, one per `Gate.run`, with the attempt in progress;
- `stage`: the `Stage` protocol every policy's runtime state implements, and its instructions;
- `state`: the state seam (`StateStore`, `GateState`): where shareable policy state lives;
- `kernel`: `Kernel`, one call: counting, cache, fallback, the deadline and the retry loop;
- `attempts`: `Attempts`, one attempt: asks the stages, runs the call under its timer;
- `retrying`, `hedging`: the retry loop's decisions and the hedged attempt;
- `deadline`: the deadline context variable nested gates and user code read;
- `deadlines`: `Deadlines`, the timers that enforce a gate's call deadlines, armed lazily;
- `timers`: the FIFO deadline queues behind both kinds of timeout;
- `usage`: how a call reports the tokens it really used.

The kernel imports neither the stages nor the state stores: they are handed to it when a gate
is assembled (`sluice._assembly`). It reaches the executors and the cache through their own
packages (`sluice._executors`, `sluice._cache`).
"""
