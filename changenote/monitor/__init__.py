"""Monitoring: configured checks for cron and CI, and watching a release.

``checks`` runs checks and answers "is it up, slow, failing, changed", ``report``
prints the answer in the formats monitoring tools read (text, JSON, Nagios plugin,
Prometheus exposition), ``watch`` follows logs and judges them against the time
before the release, ``prom_watch`` follows Prometheus queries during a watch and judges
the watched stretch against the baseline window, and ``release`` records a watch on a
change. It may import
``notebook`` and the rooms below it, and the foundation; never ``cli`` or ``wiki``.
"""
