# METADATA
# title: pawl classification
# description: |
#   Whether a job declares a classification at least as high as the one its
#   schema's fields imply. data.classification.levels orders the levels from
#   lowest to highest; data.classification.fields lists, per level, the field
#   names (matched case-insensitively against the last segment of each field
#   pointer) and JSON pointers (starting with "/", matched exactly) that
#   imply it.
package pawl.classification

decision := {
	"allow": allow,
	"deny": deny,
	"implied": implied,
}

default allow := false

# Positive match required: the declared level is known and not lower than
# the implied one.
allow if {
	rank[declared] >= implied_rank
	count(deny) == 0
}

levels := data.classification.levels

rank[level] := i if some i, level in levels

dataset := object.get(input, "dataset", {})

declared := object.get(dataset, "classification", "")

fields := object.get(dataset, "fields", [])

# name is the last segment of a JSON pointer, unescaped (~1 is "/", ~0 is
# "~"), or the field itself when it is a bare name.
name(f) := n if {
	startswith(f, "/")
	parts := split(f, "/")
	n := replace(replace(parts[count(parts) - 1], "~1", "/"), "~0", "~")
}

name(f) := f if not startswith(f, "/")

matches(f, rule) if {
	startswith(rule, "/")
	f == rule
}

matches(f, rule) if {
	not startswith(rule, "/")
	lower(name(f)) == lower(rule)
}

# hits: every (field, level, rule) that classifies a field of the dataset.
hits contains {"field": f, "level": level, "rule": r} if {
	some f in fields
	some level, rules in data.classification.fields
	some r in rules
	matches(f, r)
}

implied_rank := max({rank[h.level] | some h in hits} | {0})

implied := levels[implied_rank]

deny contains msg if {
	not rank[declared]
	msg := sprintf("classification.unknown_level: declared classification %q is not one of %v", [declared, levels])
}

deny contains msg if {
	some h in hits
	rank[h.level] > rank[declared]
	msg := sprintf("classification.under_declared: field %q matches %s rule %q, but the job declares %q", [h.field, h.level, h.rule, declared])
}

deny contains msg if {
	some h in hits
	not rank[h.level]
	msg := sprintf("classification.unknown_rule_level: data.classification.fields lists level %q, which is not in data.classification.levels %v", [h.level, levels])
}

deny contains msg if {
	object.get(input, ["principal", "id"], "") == ""
	msg := "classification.input: input.principal.id is missing"
}

deny contains msg if {
	object.get(input, "time", "") == ""
	msg := "classification.input: input.time is missing"
}
