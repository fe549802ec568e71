"""The team wiki: pages computed from every change, written as markdown and HTML.

``sources`` reads the documents (from the store, or from the notes with a cache of
what was parsed), ``pages`` computes each page and the keys it depends on, ``site``
writes them (markdown for GitHub wikis and MkDocs, a static HTML site), ``state``
remembers what the last build read and wrote so a rebuild skips what did not
change, and ``charts`` draws trend charts as SVG. It may import ``notebook`` and the
rooms below it, and the foundation; never ``cli`` or ``monitor``.
"""
