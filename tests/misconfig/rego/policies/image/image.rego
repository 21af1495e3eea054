package custom.image.runtime

import rego.v1

metadata := {
	"id": "ORG-IMG-001",
	"title": "Image runtime configuration",
	"severity": "medium",
	"file_types": ["image-config"],
}

deny contains {"msg": "the image runs as root", "json_path": "$.config.User"} if {
	object.get(input.config, "User", "") in {"", "root", "0"}
}

deny contains result if {
	some path, f in input.files
	f.kind == "file"
	f.uid == 0
	bits.and(f.mode, 2048) != 0
	result := {
		"msg": sprintf("/%s is setuid root (mode %s, layer %d)", [path, f.mode_octal, f.layer + 1]),
		"json_path": sprintf("$.rootfs[\"/%s\"]", [path]),
	}
}
