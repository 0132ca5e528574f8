package validate

// Requirement is one row of the traceability table: a clause of 21 CFR
// Part 11 or EU GMP Annex 11, what pawl does about it, the kit's checks
// that show it in the user's environment, and the developer tests that
// show it in pawl's own.
type Requirement struct {
	Section string // the heading of docs/part11.md it is under
	ID      string // "11.10(a)", "Annex 11 §9"
	Label   string // the clause as the page shows it, when not the ID
	Short   string // the requirement, short
	Answer  string // pawl's answer: "pawl: …", "procedural", "not yet"
	Checks  []string
	Tests   string
}
