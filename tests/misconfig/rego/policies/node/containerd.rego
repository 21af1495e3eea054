package custom.containerd.apparmor

import rego.v1

metadata := {
	"id": "ORG-NODE-003",
	"title": "containerd CRI disables AppArmor",
	"severity": "high",
	"file_types": ["containerd"],
}

cri := input.data.plugins["io.containerd.grpc.v1.cri"]

deny contains result if {
	cri.disable_apparmor == true
	result := {
		"msg": "the CRI plugin disables AppArmor for every container",
		"path": ["plugins", "io.containerd.grpc.v1.cri", "disable_apparmor"],
		"replacement": "disable_apparmor = false",
	}
}
