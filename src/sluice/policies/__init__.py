"""Policy configs (immutable, validated) and their state machines (pure decision logic)."""
