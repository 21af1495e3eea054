"""CVSS base scores from vectors, for feeds that publish vectors without scores (OSV).

Scoring is delegated to the `cvss` package (RedHatProductSecurity/cvss on PyPI), which
implements the FIRST specifications for v2, v3.0, v3.1 and v4.0: the v4 score is a lookup
over macro vectors that is easy to get subtly wrong, and a wrong score silently reorders
everyone's findings. Results are cached because feeds repeat the same few thousand vectors.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=65536)
def score_vector(vector: str) -> tuple[str, float] | None:
    """(version, base score) of a CVSS vector, or None when it is not a valid vector.

    The version is `2.0`, `3.0`, `3.1` or `4.0`, read from the vector's own prefix (v2
    vectors have none), so a feed that labels a 3.1 vector "CVSS_V3" still files it right.
    """
    from cvss import CVSS2, CVSS3, CVSS4
    from cvss.exceptions import CVSSError

    v = vector.strip()
    if not v or len(v) > 512:
        return None
    try:
        if v.startswith("CVSS:4.0/"):
            return "4.0", float(CVSS4(v).base_score)
        if v.startswith("CVSS:3.1/"):
            return "3.1", float(CVSS3(v).base_score)
        if v.startswith("CVSS:3.0/"):
            return "3.0", float(CVSS3(v).base_score)
        if v.startswith("CVSS:"):
            return None
        return "2.0", float(CVSS2(v.removeprefix("(").removesuffix(")")).base_score)
    except (CVSSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def rating(score: float, version: str) -> str:
    """The qualitative rating the specification attaches to a base score."""
    if version.startswith("2"):
        return "high" if score >= 7.0 else "medium" if score >= 4.0 else "low"
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0.0:
        return "low"
    return ""
