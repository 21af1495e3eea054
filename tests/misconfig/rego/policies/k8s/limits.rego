package custom.kubernetes.limits

import rego.v1

metadata := {
	"id": "ORG-K8S-001",
	"title": "Container without memory limit",
	"severity": "low",
	"file_types": ["kubernetes"],
	"remediation": "Set resources.limits.memory on every container.",
	"frameworks": {"cis_kubernetes": "5.7.4"},
}

spec_path := ["spec"] if input.data.kind == "Pod"

spec_path := ["spec", "template", "spec"] if input.data.kind in {"Deployment", "StatefulSet", "DaemonSet"}

deny contains result if {
	some i, container in object.get(input.data, spec_path, {}).containers
	not container.resources.limits.memory
	result := {
		"msg": sprintf("container %s has no memory limit", [container.name]),
		"path": array.concat(spec_path, ["containers", i]),
	}
}
