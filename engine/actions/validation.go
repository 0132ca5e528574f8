package actions

// The validation kit (`pawl validate`).
const ValidationRun = "validation.run" // ValidationRunDetails

// ValidationRunDetails: the installation and operational qualification
// kit ran in the project and its signed report was written.
type ValidationRunDetails struct {
	RunID        string   `json:"run_id"`
	IQOnly       bool     `json:"iq_only"`
	Checks       int      `json:"checks"`
	Passed       int      `json:"passed"`
	Failed       int      `json:"failed"`
	Warnings     int      `json:"warnings"` // warn or unknown: they do not fail the run
	Failures     []string `json:"failures"` // the ids of the failed checks
	Report       string   `json:"report"`   // "sha256:<hex>" of validation.json, which validation.sig signs
	KeyID        string   `json:"key_id"`   // the engine key that signed it
	BinarySHA256 string   `json:"binary_sha256"`
}

func (ValidationRunDetails) Action() string { return ValidationRun }
