"""Built-in task YAML files (package data)."""
