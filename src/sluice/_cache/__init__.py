"""The cache at run time, the gate's outermost policy (the config is `sluice.Cache`).

- `runner`: `CacheRunner`, keys, the store, encoding, and the shared execution of a miss;
- `singleflight`: `SingleFlight`, identical calls in flight share one execution, shielded so
  one caller's cancellation never cancels it for the others.
"""
