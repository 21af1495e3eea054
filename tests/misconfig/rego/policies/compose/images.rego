package custom.compose.images

import data.custom.lib.strings
import rego.v1

__rego_metadata__ := {
	"id": "ORG-COMPOSE-002",
	"title": "Compose image is not pinned",
	"severity": "medium",
	"file_types": ["compose"],
	"remediation": "Pin images by tag and digest.",
}

# `violation` works like `deny`; the line comes straight from input.lines.
violation contains result if {
	some name, service in input.data.services
	strings.floating(service.image)
	result := {
		"msg": sprintf("service %s uses floating image %s", [name, service.image]),
		"line": input.lines[sprintf("services.%s.image", [name])],
		"extra": {"image": service.image},
	}
}
