"""Allow ``python -m changenote``."""

from changenote.cli import main

main()
