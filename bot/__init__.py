"""spocbot's service: configuration, storage, mail backends, the watcher loop and the CLI.

Nothing here connects, reads configuration or opens a database at import time; everything
is built from the configuration by :mod:`bot.bootstrap`.
"""
