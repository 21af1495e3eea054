"""Secret-scanning corpus (issue 6): planted secrets and clean text, recall and false positives."""
