"""A RAG service built on sluice: FastAPI in front, retrieval and tool planning in parallel,
tools fanned out under a cap with per-tool timeouts, fallbacks and a breaker, a cache, and
the model behind `sluice.llm` (the simulator by default). See README.md."""
