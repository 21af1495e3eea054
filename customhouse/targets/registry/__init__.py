"""OCI Distribution API client and the `registry:` image source."""
