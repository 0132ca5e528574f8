package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/pawl-dev/pawl/audit/canonjson"
)

// Kind names a decision and the query that makes it.
type Kind string

// The decision kinds; each is answered by data.pawl.<kind>.decision.
const (
	KindEgress         Kind = "egress"
	KindPlugin         Kind = "plugins"
	KindClassification Kind = "classification"
	KindAuthz          Kind = "authz"
)

// Kinds lists the decision kinds every bundle decides, in a fixed order.
var Kinds = []Kind{KindEgress, KindPlugin, KindClassification, KindAuthz}

// AllKinds lists every decision kind: Kinds, then OptionalKinds.
func AllKinds() []Kind { return slices.Concat(Kinds, OptionalKinds) }

// Query returns the Rego query a kind is decided by.
func (k Kind) Query() string { return "data.pawl." + string(k) + ".decision" }

func (k Kind) valid() bool {
	return slices.Contains(AllKinds(), k)
}

// Principal is who asks: the operator (or "pawl-engine" for automatic
// admission) as the audit trail names them.
type Principal struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles,omitempty"`
}

// ESignature is a Part 11 e-signature on a batch, already verified by the
// engine (the policy trusts it and checks only its meaning and binding).
type ESignature struct {
	BatchID string `json:"batch_id"` // the batch it signs
	Meaning string `json:"meaning"`  // "approved", "reviewed", ...
	Signer  string `json:"signer"`
	Time    string `json:"time"` // RFC 3339
}

// Resource is the batch a decision is about.
type Resource struct {
	BatchID        string            `json:"batch_id"`
	Classification string            `json:"classification"`
	Hashes         map[string]string `json:"hashes,omitempty"` // e.g. "input", "verified": "sha256:..."
	Signatures     []ESignature      `json:"signatures"`
	State          string            `json:"state"` // "committed", "pending", "failed"
}

// Destination is where an export goes. The caller sets URL; Decide fills
// Canonical and Candidates (CanonicalURL, CandidatePrefixes) or, when the
// URL is refused, Refused with the reason.
type Destination struct {
	Candidates []string `json:"candidates,omitempty"`
	Canonical  string   `json:"canonical,omitempty"`
	Refused    string   `json:"refused,omitempty"`
	URL        string   `json:"url"`
}

// EgressInput is the input of an egress decision (input of
// data.pawl.egress.decision).
type EgressInput struct {
	Destination Destination `json:"destination"`
	// Kind is what leaves: "" for a batch's export, EgressNotice for a
	// notice to a source (a quarantine report), EgressLineage for a
	// batch's OpenLineage events.
	Kind      string    `json:"kind,omitempty"`
	Principal Principal `json:"principal"`
	Purpose   string    `json:"purpose"`
	// Records says a notice asks to carry the quarantined records' bytes.
	Records  bool     `json:"records,omitempty"`
	Resource Resource `json:"resource"`
	Time     string   `json:"time"` // RFC 3339, from the caller
}

// EgressNotice is the EgressInput.Kind of a notice to a source.
const EgressNotice = "notice"

// EgressLineage is the EgressInput.Kind of a batch's OpenLineage events
// sent to a lineage service.
const EgressLineage = "lineage"

// PluginRef is the plugin asking to run.
type PluginRef struct {
	Capabilities []string `json:"capabilities"` // requested
	Hash         string   `json:"hash"`         // "sha256:<64 hex>" of the .wasm
	Name         string   `json:"name"`
	Version      string   `json:"version"`
}

// PluginInput is the input of a plugin admission decision.
type PluginInput struct {
	Plugin    PluginRef `json:"plugin"`
	Principal Principal `json:"principal"`
	Purpose   string    `json:"purpose,omitempty"`
	Resource  *Resource `json:"resource,omitempty"` // the batch it would run in, when known
	Time      string    `json:"time"`
}

// Dataset is what a classification decision looks at.
type Dataset struct {
	Classification string   `json:"classification"` // declared by the job
	Fields         []string `json:"fields"`         // JSON pointers ("/patient/mrn") or names
	Job            string   `json:"job"`
	Schema         string   `json:"schema,omitempty"` // schema name@version or hash
}

// ClassificationInput is the input of a classification decision.
type ClassificationInput struct {
	Dataset   Dataset   `json:"dataset"`
	Principal Principal `json:"principal"`
	Purpose   string    `json:"purpose,omitempty"`
	Resource  *Resource `json:"resource,omitempty"`
	Time      string    `json:"time"`
}

// Caller is the authenticated identity a request comes from, as the
// operating system or the transport vouches for it (engine/principal): the
// account running pawl in local mode, the socket's peer or the client
// certificate under a service.
type Caller struct {
	UID  int    `json:"uid"`            // the OS uid; -1 when authenticated by certificate alone
	User string `json:"user,omitempty"` // the account's name
	Via  string `json:"via"`            // "process" (local mode), "unix" or "tls" (a service)
	Cert string `json:"cert,omitempty"` // "sha256:<hex>" of a client certificate
}

// Acting is the operator id a request acts as, and what the trail says of
// it: whether it is enrolled and, if so, the account it is bound to.
type Acting struct {
	ID       string `json:"id"`
	Enrolled bool   `json:"enrolled"`
	Name     string `json:"name,omitempty"` // the printed name, when enrolled
	// UID is the OS uid the operator was bound to at enrolment; -1 when
	// not enrolled, or enrolled before operators were bound.
	UID  int    `json:"uid"`
	Cert string `json:"cert,omitempty"` // a client certificate's fingerprint they are bound to
}

// AuthzFacts are what a rule about one action needs to know besides who
// asks: each is filled for the actions it concerns, and empty otherwise.
type AuthzFacts struct {
	// sign: the meaning, who ran the batch and who resubmitted records
	// into it, and the meanings this operator already signed it with.
	Meaning        string   `json:"meaning,omitempty"`
	BatchRunBy     string   `json:"batch_run_by,omitempty"`
	ResubmittedBy  []string `json:"resubmitted_by"`
	SignedMeanings []string `json:"signed_meanings"`
	// operator.enrol: the printed name asked for and the printed names of
	// the operators already enrolled (NFC, case folded by the policy).
	Name          string   `json:"name,omitempty"`
	EnrolledNames []string `json:"enrolled_names"`
	// time.outside_window: the flag and the time given.
	Flag      string `json:"flag,omitempty"`
	GivenTime string `json:"given_time,omitempty"`
	// change.approve: who proposed the change (the change.proposed
	// entry's operator); SignedMeanings holds the meanings this operator
	// already signed it with.
	Proposer string `json:"proposer,omitempty"`
	// Set only when the bundle in force does not answer authz and the
	// transition bundle is asked instead (Transition): whether the request
	// changes nothing, and the digest of the bundle in force, for the
	// reason of a refusal.
	ReadOnly      bool   `json:"read_only,omitempty"`
	BundleInForce string `json:"bundle_in_force,omitempty"`
	// pin and change.apply, in that case: the roles (admin, policy_admin)
	// the bundle about to be put in force gives nobody, when it answers
	// authz.
	MissingRoles []string `json:"missing_roles,omitempty"`
}

// AuthzInput is the input of an authorisation decision (input of
// data.pawl.authz.decision): may this caller, acting as this operator, do
// this action on this object?
type AuthzInput struct {
	Action    string     `json:"action"` // a stable verb: "run", "sign", "operator.enrol", ...
	Facts     AuthzFacts `json:"facts"`
	Object    string     `json:"object"` // "batch:<id>", "operator:<id>", "project", ...
	Operator  Acting     `json:"operator"`
	Principal Caller     `json:"principal"`
	Reason    string     `json:"reason"`
	Time      string     `json:"time"`
}

// InputError is returned for an input that is not well-formed for its kind
// (it never reaches the policy).
type InputError struct {
	Kind   Kind
	Reason string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("policies: %s input: %s", e.Kind, e.Reason)
}

// PrepareInput turns input (one of the input types above, a pointer to one,
// json.RawMessage, []byte, or anything that marshals to the same JSON) into
// the canonical JSON the policy sees for kind: unknown fields are refused,
// required fields checked, the time parsed as RFC 3339 and re-rendered in
// UTC, and for egress the URL canonicalized and its candidate prefixes
// computed. The same input always gives the same bytes; the decision id is
// computed over them.
func PrepareInput(kind Kind, input any) ([]byte, error) {
	canon, _, _, err := prepareInput(kind, input)
	return canon, err
}

// prepareInput is PrepareInput that also returns the normalized time. A
// typed input (the usual case, from the engine) skips the JSON round trip.
func prepareInput(kind Kind, input any) ([]byte, string, any, error) {
	switch kind {
	case KindEgress:
		return prepared[EgressInput](kind, input)
	case KindPlugin:
		return prepared[PluginInput](kind, input)
	case KindClassification:
		return prepared[ClassificationInput](kind, input)
	case KindAuthz:
		return prepared[AuthzInput](kind, input)
	case KindNetwork:
		return prepared[NetworkInput](kind, input)
	case KindDistribute:
		return prepared[DistributeInput](kind, input)
	case KindWitness:
		return prepared[WitnessInput](kind, input)
	}
	return nil, "", nil, fmt.Errorf("policies: unknown decision kind %q (want one of %v)", kind, AllKinds())
}

// kindInput is what prepareInput asks of each kind's input type.
type kindInput interface {
	// common says where the input keeps its time, and who asks: the id
	// and the name of its field (checkCommon).
	common() (ts *string, id, idField string)
	// complete checks what the kind requires beyond that and gives nil
	// slices their empty value, the JSON the policy sees.
	complete() error
}

// prepared is prepareInput for the kind whose input type is T: input as a
// T (decoded strictly from JSON when it is not one), its time and who
// asks checked, completed, and in canonical JSON. A malformed input is an
// *InputError.
func prepared[T any, P interface {
	*T
	kindInput
}](kind Kind, input any) ([]byte, string, any, error) {
	fail := func(err error) ([]byte, string, any, error) {
		return nil, "", nil, &InputError{kind, err.Error()}
	}
	in, err := asInput[T](input)
	if err != nil {
		return fail(err)
	}
	ts, id, field := P(&in).common()
	if err := checkCommon(ts, id, field); err != nil {
		return fail(err)
	}
	if err := P(&in).complete(); err != nil {
		return fail(err)
	}
	canon, err := encodeCanonical(in)
	return canon, *ts, in, err
}

func (in *EgressInput) common() (*string, string, string) {
	return &in.Time, in.Principal.ID, "principal.id"
}

func (in *EgressInput) complete() error {
	if in.Resource.BatchID == "" {
		return errors.New("resource.batch_id is missing")
	}
	if in.Resource.Signatures == nil {
		in.Resource.Signatures = []ESignature{}
	}
	if in.Kind != "" && in.Kind != EgressNotice && in.Kind != EgressLineage {
		return fmt.Errorf("kind %q is not an egress kind: leave it out for an export, or %q or %q", in.Kind, EgressNotice, EgressLineage)
	}
	if in.Records && in.Kind != EgressNotice {
		return errors.New("records is for a notice (kind \"notice\") only")
	}
	d := &in.Destination
	d.Canonical, d.Candidates, d.Refused = "", nil, ""
	if c, err := CanonicalURL(d.URL); err != nil {
		var ue *URLError
		if errors.As(err, &ue) {
			d.Refused = fmt.Sprintf("%s (URL %q)", ue.Reason, d.URL)
		} else {
			d.Refused = err.Error()
		}
	} else {
		d.Canonical, d.Candidates = c, CandidatePrefixes(c)
	}
	return nil
}

func (in *PluginInput) common() (*string, string, string) {
	return &in.Time, in.Principal.ID, "principal.id"
}

func (in *PluginInput) complete() error {
	if in.Plugin.Capabilities == nil {
		in.Plugin.Capabilities = []string{}
	}
	return nil
}

func (in *ClassificationInput) common() (*string, string, string) {
	return &in.Time, in.Principal.ID, "principal.id"
}

func (in *ClassificationInput) complete() error {
	if in.Dataset.Fields == nil {
		in.Dataset.Fields = []string{}
	}
	return nil
}

// An authz input names who acts as its operator; its principal is how
// they reached pawl.
func (in *AuthzInput) common() (*string, string, string) {
	return &in.Time, in.Operator.ID, "operator.id"
}

func (in *AuthzInput) complete() error {
	if in.Action == "" {
		return errors.New("action is missing")
	}
	if in.Principal.Via == "" {
		return errors.New("principal.via is missing: who asks must be authenticated")
	}
	for _, l := range []*[]string{&in.Facts.ResubmittedBy, &in.Facts.SignedMeanings, &in.Facts.EnrolledNames} {
		if *l == nil {
			*l = []string{}
		}
	}
	return nil
}

func (in *NetworkInput) common() (*string, string, string) {
	return &in.Time, in.Principal.ID, "principal.id"
}

func (in *NetworkInput) complete() error { return nil }

func (in *DistributeInput) common() (*string, string, string) {
	return &in.Time, in.Principal.ID, "principal.id"
}

func (in *DistributeInput) complete() error {
	if in.Resource.BatchID == "" {
		return errors.New("resource.batch_id is missing")
	}
	if in.Resource.Signatures == nil {
		in.Resource.Signatures = []ESignature{}
	}
	return nil
}

func (in *WitnessInput) common() (*string, string, string) {
	return &in.Time, in.Principal.ID, "principal.id"
}

func (in *WitnessInput) complete() error { return nil }

// encodeCanonical writes an input (or a result) in pawl's one canonical
// JSON (audit/canonjson), the form it is stored in the trail: the decision
// id is hashed over exactly the bytes on record.
func encodeCanonical(v any) ([]byte, error) { return canonjson.Marshal(v) }

// checkCommon checks an input's time (RFC 3339, re-rendered in UTC at
// *ts) and that it says who asks (id, in the field named idField).
func checkCommon(ts *string, id, idField string) error {
	if *ts == "" {
		return errors.New("time is missing (RFC 3339, from the caller: policies never read the clock)")
	}
	t, err := time.Parse(time.RFC3339Nano, *ts)
	if err != nil {
		return fmt.Errorf("time %q is not RFC 3339: %v", *ts, err)
	}
	// RFC 3339 has four-digit years: an offset must not carry the time
	// out of them in UTC, or the input on record could not be read again.
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("time %q is in the year %d in UTC, outside RFC 3339's 0000-9999", *ts, y)
	}
	*ts = t.UTC().Format(time.RFC3339Nano)
	if id == "" {
		return fmt.Errorf("%s is missing", idField)
	}
	return nil
}

func toJSON(input any) ([]byte, error) {
	switch x := input.(type) {
	case json.RawMessage:
		return x, nil
	case []byte:
		return x, nil
	case nil:
		return nil, errors.New("input is nil")
	}
	return json.Marshal(input)
}

func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the input object")
	}
	return nil
}

// inputValue converts one of the input types to the ast.Value the policy
// sees, without a JSON round trip (the same value ast.ValueFromReader would
// give for encodeCanonical's output; TestInputValueMatchesJSON checks it).
// It follows encoding/json's rules for the kinds the input types use:
// structs by json tag (omitempty honoured), strings, bools, slices (nil is
// null), map[string]string, pointers (nil is null).
func inputValue(v any) ast.Value {
	return reflectValue(reflect.ValueOf(v))
}

func reflectValue(rv reflect.Value) ast.Value {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return ast.NullValue
		}
		return reflectValue(rv.Elem())
	case reflect.String:
		return ast.String(rv.String())
	case reflect.Bool:
		return ast.Boolean(rv.Bool())
	case reflect.Int, reflect.Int64:
		return ast.Number(strconv.FormatInt(rv.Int(), 10))
	case reflect.Slice:
		if rv.IsNil() {
			return ast.NullValue
		}
		terms := make([]*ast.Term, rv.Len())
		for i := range terms {
			terms[i] = ast.NewTerm(reflectValue(rv.Index(i)))
		}
		return ast.NewArray(terms...)
	case reflect.Map:
		if rv.IsNil() {
			return ast.NullValue
		}
		items := make([][2]*ast.Term, 0, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			items = append(items, [2]*ast.Term{ast.StringTerm(it.Key().String()), ast.NewTerm(reflectValue(it.Value()))})
		}
		return ast.NewObject(items...)
	case reflect.Struct:
		t := rv.Type()
		items := make([][2]*ast.Term, 0, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			fv := rv.Field(i)
			if opts == "omitempty" && isEmptyJSON(fv) {
				continue
			}
			items = append(items, [2]*ast.Term{ast.StringTerm(name), ast.NewTerm(reflectValue(fv))})
		}
		return ast.NewObject(items...)
	}
	panic(fmt.Sprintf("policies: inputValue: unsupported kind %s", rv.Kind()))
}

// isEmptyJSON is encoding/json's definition of empty for omitempty.
func isEmptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// asInput takes a decision input given as the Go type itself, a pointer to
// it, or anything that encodes to its JSON (decoded strictly).
func asInput[T any](input any) (T, error) {
	switch x := input.(type) {
	case T:
		return x, nil
	case *T:
		return *x, nil
	}
	var in T
	raw, err := toJSON(input)
	if err == nil {
		err = strictDecode(raw, &in)
	}
	return in, err
}
