package pawl.plugins_test

import data.pawl.plugins

hash := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

approved := {hash: {"name": "range-check", "version": "1.2.0", "capabilities": ["log"]}}

request := {
	"time": "2025-01-02T03:04:05Z",
	"principal": {"id": "pawl-engine"},
	"plugin": {"name": "range-check", "version": "1.2.0", "hash": hash, "capabilities": ["log"]},
}

decide(req) := d if {
	d := plugins.decision with input as req with data.plugins.approved as approved
}

test_allows_approved_hash if {
	d := decide(request)
	d.allow == true
	d.deny == set()
}

test_denies_unknown_hash if {
	other := "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	d := decide(json.patch(request, [{"op": "replace", "path": "/plugin/hash", "value": other}]))
	d.allow == false
	sprintf("plugins.not_approved: plugin \"range-check\" version \"1.2.0\" with hash %q is not on the approved list", [other]) in d.deny
}

test_denies_unapproved_capability if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/plugin/capabilities", "value": ["log", "clock"]}]))
	d.allow == false
	some msg in d.deny
	startswith(msg, "plugins.capability: plugin \"range-check\"")
	contains(msg, "\"clock\"")
}

test_denies_renamed_plugin if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/plugin/name", "value": "trusted-validator"}]))
	d.allow == false
	sprintf("plugins.name_mismatch: hash %q is approved for plugin \"range-check\", not \"trusted-validator\"", [hash]) in d.deny
}

test_denies_other_version if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/plugin/version", "value": "1.3.0"}]))
	d.allow == false
}

test_denies_malformed_hash if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/plugin/hash", "value": "SHA256:ABC"}]))
	d.allow == false
	some msg in d.deny
	startswith(msg, "plugins.hash_format:")
}

test_default_bundle_approves_nothing if {
	d := plugins.decision with input as request
	d.allow == false
}

test_missing_principal_and_time_deny if {
	d := decide(json.remove(request, ["/principal", "/time"]))
	d.allow == false
	"plugins.input: input.principal.id is missing" in d.deny
	"plugins.input: input.time is missing" in d.deny
}

dev_request := json.patch(request, [{"op": "replace", "path": "/plugin/version", "value": "1.3.0-dev"}])

test_dev_version_refused_in_production if {
	# Even approved by hash: production runs no development build.
	dev_approved := {hash: {"name": "range-check", "version": "1.3.0-dev", "capabilities": ["log"]}}
	d := plugins.decision with input as dev_request with data.plugins.approved as dev_approved
	d.allow == false
	some msg in d.deny
	startswith(msg, "plugins.dev_version: plugin \"range-check\" version \"1.3.0-dev\" is a development build")
}

test_dev_version_runs_in_development_without_approval if {
	d := plugins.decision with input as dev_request with data.plugins.approved as {} with data.plugins.development as true
	d.allow == true
	d.deny == set()
}

test_development_admits_only_dev_versions if {
	d := plugins.decision with input as request with data.plugins.approved as {} with data.plugins.development as true
	d.allow == false
	some msg in d.deny
	startswith(msg, "plugins.not_approved:")
}

test_development_must_be_true if {
	d := plugins.decision with input as dev_request with data.plugins.approved as {} with data.plugins.development as "yes"
	d.allow == false
}

test_dev_suffix_only_at_the_end if {
	d := decide(json.patch(request, [{"op": "replace", "path": "/plugin/version", "value": "1.3.0-devel"}]))
	every msg in d.deny {
		not startswith(msg, "plugins.dev_version:")
	}
}
