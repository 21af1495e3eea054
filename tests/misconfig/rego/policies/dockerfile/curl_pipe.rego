package custom.dockerfile.curl_pipe

import rego.v1

metadata := {
	"id": "ORG-DF-001",
	"title": "Download piped into a shell",
	"severity": "high",
	"file_types": ["dockerfile"],
	"remediation": "Download to a file, verify its checksum, then run it.",
	"frameworks": {"nist_800_190": "4.1.5"},
}

# A real pipe from curl/wget into a shell; `echo "curl x | sh"` is one command, not a pipe.
deny contains result if {
	some instr in input.instructions
	instr.cmd == "RUN"
	some script in instr.scripts
	some pipe in script.pipelines
	some i, first in pipe.commands
	some j, later in pipe.commands
	i < j
	fetch := script.commands[first]
	run := script.commands[later]
	fetch.name in {"curl", "wget"}
	run.name in {"sh", "bash"}
	result := {
		"msg": sprintf("%s output is piped into %s", [fetch.name, run.name]),
		"line": fetch.line,
	}
}
