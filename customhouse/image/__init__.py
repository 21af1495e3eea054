"""Layers -> one streamed pass over files, whiteouts, per-file layer origin, merged views."""

#: Bump when the walker's per-layer output changes for the same input (it keys the cache).
WALKER_VERSION = 1
