"""The report's sections, one module each, in the order `benchmarks.run` runs them:
`training`, `floor`, `kernels`, `scaling`, `wide`, `oneoff`, `ngrams`, `busy`, `checks`
(`common` holds what they share).

Each section is a function ``<name>_section(ctx) -> (markdown, JSON-able dict)``; the later
ones read the earlier ones' results from ``ctx["sections"]``. They measure in fresh
processes (``python -m benchmarks.<module>``), each started after a (short) wait for an idle
machine and recorded with the share of the CPUs other processes used meanwhile
(`benchmarks.machine.run_json`). A section whose data ``ctx["previous_sections"]`` holds
(``--report-only``, or a section not chosen by ``--sections``) is redrawn from it without
measuring.
"""
