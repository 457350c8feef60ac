"""Model registry: built-in names, local folders, GGUF files and hub ids."""

from genlab.models.registry import (BUILTINS, DEFAULT_MODEL, LoadedModel, Resolved, as_loaded, attach_adapter,
                                    load, load_tokenizer, model_kind, resolve)

__all__ = ["BUILTINS", "DEFAULT_MODEL", "LoadedModel", "Resolved", "as_loaded", "attach_adapter", "load",
           "load_tokenizer", "model_kind", "resolve"]
