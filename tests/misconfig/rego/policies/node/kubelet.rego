package custom.kubelet.anonymous

import rego.v1

metadata := {
	"id": "ORG-NODE-002",
	"title": "Kubelet accepts anonymous requests",
	"severity": "critical",
	"file_types": ["kubelet"],
	"frameworks": {"cis_kubernetes": "4.2.1"},
}

deny contains {"msg": "anonymous authentication is enabled", "path": ["authentication", "anonymous", "enabled"]} if {
	input.data.authentication.anonymous.enabled == true
}
