"""Vulnerability database: feeds -> one versioned SQLite file; read with `VulnDB`."""
