package custom.daemon.live_restore

import rego.v1

metadata := {
	"id": "ORG-NODE-001",
	"title": "Docker daemon without live restore",
	"severity": "low",
	"file_types": ["docker-daemon"],
}

# A plain string: the finding is about the whole file (line 0).
deny contains "live-restore is not enabled" if not input.data["live-restore"]

deny contains {"msg": "inter-container communication is enabled", "path": ["icc"]} if input.data.icc == true
