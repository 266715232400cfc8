// Package seal encrypts the few values Hypha must read back rather than only
// check — a grove's shared MCP token, which it hands out again, and a
// provider's API token, which it sends on — under the server key: 32 random
// bytes kept outside the database, so a copy of the database (a backup, a
// stolen disk, a replica) holds only ciphertext.
//
// A sealed value is text, `hs1.<key id>.<base64url(nonce ‖ ciphertext)>`,
// encrypted with AES-256-GCM under a key derived from the server key
// (HKDF-SHA256), with a fresh random nonce each time. The key id is a
// fingerprint of the server key, so a value opened under another key is
// reported as such instead of as corruption. The associated data binds the
// format version, the key id and the caller's purpose (the KV key the value
// lives under), so a sealed value moved to another key or purpose does not
// open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hyphateam/hypha"
)

// KeySize is the length of a server key in bytes.
const KeySize = 32

// version prefixes every sealed value; a new format gets a new prefix.
const version = "hs1"

// Errors a failed Open wraps, for errors.Is.
var (
	// ErrWrongKey: the value was sealed under another server key.
	ErrWrongKey = errors.New("wrong server key")
	// ErrCorrupt: the value is not a sealed value, was altered, or was
	// sealed for another purpose.
	ErrCorrupt = errors.New("corrupt sealed value")
)

// Key is a server key, ready to seal and open. It never prints its bytes:
// String, GoString, Format and LogValue (value receivers, so a copy is
// covered too) show only its id.
type Key struct {
	raw  [KeySize]byte // kept only to write the key file
	aead cipher.AEAD
	id   string
}

// NewKey returns a fresh random key.
func NewKey() (*Key, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate server key: %w", err)
	}
	return FromBytes(b)
}

// FromBytes returns the key made of b, which must be KeySize bytes.
func FromBytes(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, hypha.Errorf(hypha.EInvalid, "a server key is %d bytes; this one is %d", KeySize, len(b))
	}
	// The encryption key is derived rather than the key itself, so the
	// public fingerprint and the cipher never use the same bytes.
	ek, err := hkdf.Key(sha256.New, b, nil, "hypha seal v1 aes-256-gcm", 32)
	if err != nil {
		return nil, fmt.Errorf("derive sealing key: %w", err)
	}
	block, err := aes.NewCipher(ek)
	if err != nil {
		return nil, fmt.Errorf("sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealing cipher: %w", err)
	}
	k := &Key{aead: aead}
	copy(k.raw[:], b)
	sum := sha256.Sum256(append([]byte("hypha server key id\x00"), b...))
	k.id = hex.EncodeToString(sum[:8])
	return k, nil
}

// Parse reads a key written as 64 hex digits or as base64 (standard or URL
// alphabet, padded or not) of 32 bytes; surrounding space is ignored.
func Parse(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, hypha.Errorf(hypha.EInvalid, "the server key is empty")
	}
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return FromBytes(b)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, hypha.Errorf(hypha.EInvalid, "the server key decodes to %d bytes; it must be %d (generate one with `openssl rand -base64 32`)", len(b), KeySize)
			}
			return FromBytes(b)
		}
	}
	return nil, hypha.Errorf(hypha.EInvalid, "the server key is neither 64 hex digits nor base64 of %d bytes (generate one with `openssl rand -base64 32`)", KeySize)
}

// ID is the key's fingerprint: 16 hex digits of a SHA-256 of the key. It
// says which key sealed a value and reveals nothing usable about the key.
func (k *Key) ID() string { return k.id }

// String describes the key by its id only.
func (k Key) String() string { return "server key " + k.id }

// GoString keeps %#v from printing the key's bytes.
func (k Key) GoString() string { return k.String() }

// Format keeps every fmt verb from printing the key's bytes.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue keeps slog from printing the key's bytes.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// encoded is the key as written in a key file: base64, one line.
func (k *Key) encoded() string { return base64.StdEncoding.EncodeToString(k.raw[:]) + "\n" }

func (k *Key) ad(keyID, purpose string) []byte {
	return []byte(version + "." + keyID + "." + purpose)
}

// Seal encrypts plaintext for purpose (say, the KV key it is stored under)
// and returns the sealed text. Open needs the same key and purpose.
func (k *Key) Seal(purpose string, plaintext []byte) (string, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: nonce: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, plaintext, k.ad(k.id, purpose))
	return version + "." + k.id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value Seal returned for purpose. A value sealed under
// another key wraps ErrWrongKey (the message names both key ids); a value
// altered, truncated or sealed for another purpose wraps ErrCorrupt.
func (k *Key) Open(purpose, sealed string) ([]byte, error) {
	parts := strings.Split(sealed, ".")
	if len(parts) != 3 || parts[0] != version {
		return nil, hypha.WrapError(hypha.EInternal, "not a sealed value of this version ("+version+".…)", ErrCorrupt)
	}
	if parts[1] != k.id {
		return nil, hypha.WrapError(hypha.EInternal, fmt.Sprintf("sealed under server key %s, but this server's key is %s", parts[1], k.id), ErrWrongKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return nil, hypha.WrapError(hypha.EInternal, "sealed value is malformed", ErrCorrupt)
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], k.ad(parts[1], purpose))
	if err != nil {
		return nil, hypha.WrapError(hypha.EInternal, "sealed value does not open: altered, or sealed for another purpose than "+purpose, ErrCorrupt)
	}
	return plain, nil
}

// KeyIDOf returns the id of the key a sealed value was sealed under, or ""
// when it is not a sealed value.
func KeyIDOf(sealed string) string {
	parts := strings.Split(sealed, ".")
	if len(parts) != 3 || parts[0] != version {
		return ""
	}
	return parts[1]
}
