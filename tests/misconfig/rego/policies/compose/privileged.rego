# METADATA
# title: Privileged compose services
package custom.compose.privileged # a trailing comment, which rego-cpp alone would reject

import rego.v1

metadata := {
	"id": "ORG-COMPOSE-001",
	"title": "Compose service runs privileged",
	"severity": "high",
	"file_types": ["compose"],
	"description": "A privileged container has every capability and all host devices.",
	"rationale": "Our platform standard forbids privileged workloads outside the node agents.",
	"remediation": "Remove `privileged: true` and add only the capabilities the service needs.",
	"references": ["https://docs.example.com/platform/standards#privileged"],
	"frameworks": {"cis_docker": "5.4", "mitre_attack": "T1611"},
}

deny contains result if {
	some name, service in input.data.services
	service.privileged == true
	result := {
		"msg": sprintf("service \"%s\" runs privileged", [name]),
		"path": ["services", name, "privileged"],
		"replacement": "privileged: false",
		"fix": sprintf("set privileged: false on %s", [name]),
	}
}
