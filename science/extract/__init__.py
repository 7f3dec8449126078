"""Compact-source extraction: background, islands, tiling and the extractor composing them."""
