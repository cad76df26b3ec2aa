"""The stages: each policy's runtime state, behind the one interface the kernel drives.

Every module holds a policy's pure state machine (decisions with time passed in, testable
without an event loop) and its part in an attempt (`sluice._core.stage.Stage`):

- `breaker`: `CircuitBreaker` admits or rejects, and records what counts as an outcome;
- `cooldown`: `Cooldown`, the gate-wide pause an overloaded upstream asks for;
- `rate`: `RateLimiter` (GCRA) books request and token slots, settles tokens with real usage;
- `permits`: `ConcurrencyLimiter`, permits with FIFO hand-off, with the adaptive controller
  (`adaptive.AdaptiveLimit`) that moves the limit;
- `hedge_delay`: `HedgeDelay`, which learns the percentile delay hedging waits for;
- `budget`: `RetryBudgetState`, the balance the retry loop withdraws from (not a stage: it is
  consulted per retry, not per attempt);
- `signals`: what an upstream's answers say, read defensively (reported numbers checked
  before use; whether a failed attempt was refused before it was processed).

The configs these run on are public, in `sluice.policies`; where the state lives (this
process, or a shared store) is decided by the state store (`sluice.stores.LocalStore`).
"""
