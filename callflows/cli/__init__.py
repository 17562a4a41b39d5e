"""The `callflows` command."""
