"""Matching: packages against advisories, then what VEX documents and the ignore file say."""
