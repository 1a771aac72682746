// Package codec encrypts Temporal payloads with AES-256-GCM, so that the
// buyers' data and license keys in workflow inputs, results, activity
// arguments, update arguments and failure messages are ciphertext in
// Temporal's database. Keys have ids: the highest encrypts, every key in the
// ring decrypts, so a key is rotated by adding one with a higher id and
// keeping the old ones until their workflows are past retention.
//
// The same codec runs in every client and worker and behind the codec
// server that decodes for the Temporal UI and CLI (Handler).
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Payload metadata this codec writes.
const (
	encodingEncrypted = "binary/encrypted"
	metaKeyID         = "encryption-key-id"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

// Codec is a converter.PayloadCodec.
type Codec struct {
	aeads   map[uint32]cipher.AEAD
	current uint32
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec for a key ring (id to 32-byte key).
func New(keys map[uint32][]byte) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: no keys")
	}
	c := &Codec{aeads: map[uint32]cipher.AEAD{}}
	for id, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("codec: key %d is %d bytes, want %d", id, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("codec: key %d: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %d: %w", id, err)
		}
		c.aeads[id] = aead
	}
	c.current = slices.Max(slices.Collect(maps.Keys(keys)))
	return c, nil
}

// KeyID is the id of the key that encrypts.
func (c *Codec) KeyID() uint32 { return c.current }

// Encode encrypts each payload, metadata and data, with the current key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.current]
	id := strconv.FormatUint(uint64(c.current), 10)
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(encodingEncrypted), metaKeyID: []byte(id)},
			// The key id is authenticated with the data: a payload moved
			// under another id does not decrypt.
			Data: aead.Seal(nonce, nonce, plain, []byte(id)),
		}
	}
	return out, nil
}

// Decode decrypts the payloads this codec encrypted and passes others
// through (histories written before encryption stay readable).
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != encodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[metaKeyID])
		n, err := strconv.ParseUint(id, 10, 32)
		aead, ok := c.aeads[uint32(n)]
		if err != nil || !ok {
			return nil, fmt.Errorf("codec: no key %q to decrypt with", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("codec: payload too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("codec: decrypt with key %s: %w", id, err)
		}
		var decoded commonpb.Payload
		if err := proto.Unmarshal(plain, &decoded); err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		out[i] = &decoded
	}
	return out, nil
}

// DataConverter is Temporal's default converter with this codec.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// Apply makes a client (and the workers on it) encrypt: payloads through
// the codec, and failure messages and stack traces too, which Temporal
// otherwise keeps in clear.
func (c *Codec) Apply(o *client.Options) {
	o.DataConverter = c.DataConverter()
	o.FailureConverter = c.FailureConverter()
}

// FailureConverter encodes failure messages and stack traces through the
// codec.
func (c *Codec) FailureConverter() converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          c.DataConverter(),
		EncodeCommonAttributes: true,
	})
}
