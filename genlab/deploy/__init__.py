"""Deployment optimization: quantize, distill, prune, export (GGUF); every technique ends in a trade-off record."""
