package pawl.classification_test

import data.pawl.classification

request := {
	"time": "2025-01-02T03:04:05Z",
	"principal": {"id": "alice"},
	"dataset": {
		"job": "sensors",
		"classification": "internal",
		"fields": ["/device_id", "/reading/value", "/reading/unit"],
	},
}

with_fields(fields, declared) := json.patch(request, [
	{"op": "replace", "path": "/dataset/fields", "value": fields},
	{"op": "replace", "path": "/dataset/classification", "value": declared},
])

test_plain_fields_allow_internal if {
	d := classification.decision with input as request
	d.allow == true
	d.implied == "public"
}

test_phi_field_requires_phi if {
	d := classification.decision with input as with_fields(["/patient/mrn", "/reading/value"], "confidential")
	d.allow == false
	d.implied == "phi"
	"classification.under_declared: field \"/patient/mrn\" matches phi rule \"mrn\", but the job declares \"confidential\"" in d.deny
}

test_phi_declared_allows_phi_fields if {
	d := classification.decision with input as with_fields(["/patient/mrn", "/Email"], "phi")
	d.allow == true
	d.implied == "phi"
}

test_field_names_match_case_insensitively if {
	d := classification.decision with input as with_fields(["/contact/EMAIL"], "internal")
	d.allow == false
	d.implied == "confidential"
}

test_pointer_rules_match_exactly if {
	fields := {"confidential": ["/site/address"], "phi": []}
	d1 := classification.decision with input as with_fields(["/site/address"], "internal")
		with data.classification.fields as fields
	d1.allow == false
	d2 := classification.decision with input as with_fields(["/other/address"], "internal")
		with data.classification.fields as fields
	d2.allow == true
}

test_unknown_level_denies if {
	d := classification.decision with input as with_fields(["/device_id"], "secret")
	d.allow == false
	some msg in d.deny
	startswith(msg, "classification.unknown_level: declared classification \"secret\"")
}

test_bare_field_names_match if {
	d := classification.decision with input as with_fields(["dob", "reading"], "internal")
	d.allow == false
	d.implied == "phi"
}

test_rule_level_not_in_levels_denies if {
	d := classification.decision with input as with_fields(["/x/secret_code"], "phi")
		with data.classification.fields as {"top-secret": ["secret_code"]}
	d.allow == false
	some msg in d.deny
	startswith(msg, "classification.unknown_rule_level: data.classification.fields lists level \"top-secret\"")
}

test_missing_principal_and_time_deny if {
	d := classification.decision with input as json.remove(request, ["/principal", "/time"])
	d.allow == false
	"classification.input: input.principal.id is missing" in d.deny
	"classification.input: input.time is missing" in d.deny
}
