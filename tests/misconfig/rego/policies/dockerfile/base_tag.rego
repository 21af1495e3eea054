package custom.dockerfile.base_tag

import rego.v1

metadata := {
	"id": "ORG-DF-002",
	"title": "Base image without a fixed tag",
	"severity": "medium",
	"file_types": ["dockerfile"],
}

deny contains result if {
	some stage in input.stages
	stage.image != null
	stage.image.digest == ""
	stage.image.tag in {"", "latest"}
	result := {
		"msg": sprintf("stage %d is built FROM %s", [stage.index, stage.base]),
		"line": stage.line,
		"extra": {"repository": stage.image.repository},
	}
}
