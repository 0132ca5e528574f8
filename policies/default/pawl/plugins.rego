# METADATA
# title: pawl plugin admission
# description: |
#   Which plugins may run. Default deny: a plugin runs only when its sha256 is
#   on the approved list, under the name (and, when listed, the version) it
#   was approved as, and asks for no capability it was not approved for.
#   A development build (a version ending in "-dev", which `pawl plugin add`
#   may re-pin to new bytes) is refused unless the bundle marks the project
#   as one for development (data.plugins.development: true); there it runs
#   without an approval by hash.
package pawl.plugins

decision := {
	"allow": allow,
	"deny": deny,
}

default allow := false

# Positive match required: the hash is approved and everything else checks.
allow if {
	approved_entry
	count(deny) == 0
}

plugin := object.get(input, "plugin", {})

hash := object.get(plugin, "hash", "")

name := object.get(plugin, "name", "")

version := object.get(plugin, "version", "")

requested := object.get(plugin, "capabilities", [])

approved_entry := data.plugins.approved[hash]

dev_version if endswith(version, "-dev")

# A development project: set in policies/data.json, so it is pinned and a
# change of it is a change of the bundle (two persons).
development if data.plugins.development == true

dev_admitted if {
	dev_version
	development
}

allow if {
	dev_admitted
	count(deny) == 0
}

deny contains msg if {
	dev_version
	not development
	msg := sprintf("plugins.dev_version: plugin %q version %q is a development build; this project's policy refuses -dev versions (release it under a version without -dev, or mark a development project with plugins.development: true in data.json)", [name, version])
}

deny contains msg if {
	not regex.match(`^sha256:[0-9a-f]{64}$`, hash)
	msg := sprintf("plugins.hash_format: plugin %q hash %q is not \"sha256:\" and 64 lower-case hex digits", [name, hash])
}

deny contains msg if {
	not approved_entry
	not dev_admitted
	msg := sprintf("plugins.not_approved: plugin %q version %q with hash %q is not on the approved list", [name, version, hash])
}

deny contains msg if {
	approved_entry.name != name
	msg := sprintf("plugins.name_mismatch: hash %q is approved for plugin %q, not %q", [hash, approved_entry.name, name])
}

deny contains msg if {
	approved_entry.version != version
	msg := sprintf("plugins.version_mismatch: hash %q is approved as %q version %q, not version %q", [hash, approved_entry.name, approved_entry.version, version])
}

deny contains msg if {
	approved_entry
	some c in requested
	not c in object.get(approved_entry, "capabilities", [])
	msg := sprintf("plugins.capability: plugin %q (%s) requests capability %q; it is approved for %v", [name, hash, c, object.get(approved_entry, "capabilities", [])])
}

deny contains msg if {
	object.get(input, ["principal", "id"], "") == ""
	msg := "plugins.input: input.principal.id is missing"
}

deny contains msg if {
	object.get(input, "time", "") == ""
	msg := "plugins.input: input.time is missing"
}
