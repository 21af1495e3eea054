"""Kubernetes posture: objects from manifests, Pod Security Standards, hardening, RBAC, NetworkPolicy."""
