"""The notebook: the actions on a project's changes and the documents they produce.

Here live the actions themselves (``workflow``: baseline, measure, ship, render,
show), the checklist and its ticks, turning measurements into rows (``recording``),
running a change's stored probes again (``repeat``), the change document behind
``--json`` and the notes (``document``, ``notes``), moving documents in and out
(``transfer`` reads sources and exports, ``importing`` writes documents into the
store) and the demo's whole cycle (``demo``, its words for a terminal in
``demo_text``). It may import the rooms below it, ``measure``, ``store`` and
``service``, and the foundation; never ``cli``, ``wiki`` or ``monitor``.
"""
