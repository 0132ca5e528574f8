package actions

// EngineKeyRotated is the action of an engine key rotation.
const EngineKeyRotated = "engine.key_rotated" // KeyRotatedDetails

// EngineKeyObject is the object of every engine key rotation.
const EngineKeyObject = "engine-key"

// KeyRotatedDetails: the engine key was replaced (`pawl key rotate`). The
// trail is the key history: the key in project.init, then each rotation's
// new key, each rotation signed by both keys over the same statement
// (seal.RotationStatement), so the history is a chain that nobody holding
// only one of the keys can extend or bend. From this entry on, batch
// signatures and checkpoints are made with NewKey; those made before it
// verify with OldKey.
type KeyRotatedDetails struct {
	OldKey string `json:"old_key"` // "ed25519 BASE64 KEYID"
	NewKey string `json:"new_key"`
	// OldSignature and NewSignature are the base64 ed25519 signatures of
	// the old and the new key over the rotation statement.
	OldSignature string `json:"old_signature"`
	NewSignature string `json:"new_signature"`
	// AtRest is how the new private key is kept: "plain" (mode 0600) or
	// "sealed" (AES-256-GCM under the key-encryption secret).
	AtRest string `json:"at_rest"`
}

func (KeyRotatedDetails) Action() string { return EngineKeyRotated }
