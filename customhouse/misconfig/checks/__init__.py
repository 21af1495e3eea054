"""Built-in checks, one module per file type; every module registers its checks on import."""
