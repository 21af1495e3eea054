package custom.image.org

import rego.v1

__rego_metadata__ := {
	"id": "ORG-IMG-001",
	"title": "Image ships curl and was built with curl | sh",
	"severity": "medium",
	"file_types": ["image-config"],
	"remediation": "Download with checksums in a build stage.",
}

deny contains result if {
	some i, step in input.history
	contains(step.created_by, "| sh")
	input.files["usr/bin/curl"]
	result := {
		"msg": sprintf("history step %d pipes a download into a shell", [i]),
		"json_path": sprintf("$.history[%d].created_by", [i]),
		"extra": {"layer_index": sprintf("%d", [step.layer])},
	}
}
