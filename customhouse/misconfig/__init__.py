"""Misconfiguration scanning: Dockerfiles, image configuration, compose, daemon and node configs,
Kubernetes manifests, and custom Rego policies, through one engine (engine.py)."""
