package custom.dockerfile.recommends

import rego.v1

metadata := {
	"id": "ORG-DF-003",
	"title": "apt-get install pulls recommended packages",
	"severity": "low",
	"file_types": ["dockerfile"],
}

# Package-manager calls come decoded: no need to parse options out of strings.
deny contains result if {
	some instr in input.instructions
	some script in instr.scripts
	some op in script.packages
	op.manager == "apt-get"
	op.action == "install"
	not has_option(op, "--no-install-recommends")
	some package in op.packages
	result := {
		"msg": sprintf("apt-get install %s without --no-install-recommends", [package]),
		"line": script.commands[op.command].line,
	}
}

has_option(op, name) if {
	some option in op.options
	option[0] == name
}
