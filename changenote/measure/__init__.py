"""Measuring: running probes, summarising samples, and comparing two runs honestly.

Probes (HTTP, shell command, manual figures) turn attempts into samples
(``probes``); configured checks become probes (``checks``); ``stats`` and
``resampling`` summarise and test; ``windows`` compares windows of time-ordered,
autocorrelated points (a Prometheus range query's); ``comparing``, ``diagnostics`` and
``expectations`` judge a run against the baseline and say what could mislead. It
knows nothing of the store or of notes: it may import only the foundation.
"""
