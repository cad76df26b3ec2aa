"""Measurements: the load generator, the strategy comparison, and their reports.

- ``sluice bench load``: closed-model (N users) and open-model (a rate, latency from the
  scheduled send time) load tests of any OpenAI-compatible or plain HTTP endpoint, with the
  generator watching its own CPU and loop lag, and several processes merging raw samples.
- ``sluice bench strategies``: the same LLM calls made sequentially, with threads, with
  asyncio done wrong and right, through a sluice Gate, and with processes.
- Reports: rich tables, a JSON file with every figure, PNG plots and one self-contained HTML
  page. The scenarios behind ``sluice demo`` live here too.

Every measurement compares against a baseline measured in the same run, on this machine.
Needs the ``bench`` extra (rich, matplotlib) besides ``http`` and ``sim``.
"""
