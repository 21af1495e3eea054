# A library: no metadata and no deny rule, so it is loaded but never run on its own.
package custom.lib.strings

import rego.v1

# Whether an image reference names no tag or the moving "latest" tag.
floating(image) if {
	not contains(image, "@")
	not regex.match(`:[^/]+$`, image)
}

floating(image) if endswith(image, ":latest")
