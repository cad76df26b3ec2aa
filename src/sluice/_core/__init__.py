"""The kernel: what runs one call through a gate's policies.

- `call`: the `Call` record (one per `Gate.run`) and the `Try` record (one per attempt);
- `stage`: the `Stage` protocol every policy's runtime state implements, and its instructions;
- `state`: the state seam (`StateStore`, `GateState`): where shareable policy state lives;
- `kernel`: `Kernel`, the loop that carries out what the stages, the retry policy and the
  hedger decide, under the total and attempt deadlines;
- `retrying`, `hedging`: the retry loop's decisions and the hedged attempt;
- `deadline`: the deadline context variable nested gates and user code read;
- `timers`: the FIFO deadline queues behind both kinds of timeout;
- `usage`: how a call reports the tokens it really used.

The kernel imports neither the stages nor the state stores: they are handed to it when a gate
is assembled (`sluice._assembly`). It reaches the executors and the cache through their own
packages (`sluice._executors`, `sluice._cache`).
"""
