package license

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
)

// A signed answer is how the server vouches for something it says online
// (a validation): the answer's exact bytes, base64, and the Ed25519
// signature of those bytes by the key with KeyID. The client checks the
// signature before it reads the answer, and the nonce it sent inside it,
// so neither a forged nor a replayed answer passes.
type SignedAnswer struct {
	Answer    string `json:"answer"`    // base64 of the answer's bytes (JSON)
	KeyID     uint16 `json:"key_id"`    // the signing key's id
	Signature string `json:"signature"` // base64 of the 64-byte signature
}

// SignAnswer signs answer bytes.
func SignAnswer(k SigningKey, answer []byte) (SignedAnswer, error) {
	if err := k.check(); err != nil {
		return SignedAnswer{}, err
	}
	return SignedAnswer{
		Answer:    base64.StdEncoding.EncodeToString(answer),
		KeyID:     k.ID,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(k.Private, answerMessage(answer))),
	}, nil
}

// VerifyAnswer checks a signed answer and returns its bytes.
func (r Keyring) VerifyAnswer(a SignedAnswer) ([]byte, error) {
	answer, err := base64.StdEncoding.DecodeString(a.Answer)
	if err != nil {
		return nil, fmt.Errorf("%w: answer is not base64", ErrMalformed)
	}
	sig, err := base64.StdEncoding.DecodeString(a.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: bad signature encoding", ErrMalformed)
	}
	if err := r.verify(a.KeyID, answerMessage(answer), sig); err != nil {
		return nil, err
	}
	return answer, nil
}

// answerMessage separates answers from keys and computer licenses, which
// the same keys sign: no signature of one can pass for another.
func answerMessage(answer []byte) []byte {
	return append([]byte("keysmith answer\x00"), answer...)
}

// ErrReplayed is returned by a client whose nonce is not in the answer.
var ErrReplayed = errors.New("license: the answer is not for this request (nonce)")
