"""Readers of rpm's package databases and header blobs, shared by the `rpm` analyzer.

Kept apart from the analyzer so the formats (header blobs, SQLite, Berkeley DB hash, ndb) can
be tested on their own and reused by anything else that meets an rpmdb (e.g. image layers of
other formats). None of it touches the host filesystem: every reader takes bytes or a seekable
file handed over by the walker.
"""
