"""The cache at run time, the gate's outermost policy (the config is `sluice.Cache`).

- `runner`: `CacheRunner`, keys, the store, encoding, and the shared execution of a miss;
- `singleflight`: `SingleFlight`, identical calls in flight share one execution, shielded so
  one caller's cancellation never cancels it for the others;
- `claims`: `Claims`, the same across processes, for a store that offers claims: one process
  computes a key that several miss at once, the others wait for its value.
"""
