"""Mail ports (what the watcher needs from mail systems) and their adapters."""
