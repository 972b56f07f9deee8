"""``python -m summarizer`` runs the same command as ``summarizer``."""

from summarizer.cli import main

main()
