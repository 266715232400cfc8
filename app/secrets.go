package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/seal"
)

// maxProviderToken bounds a provider API token: real ones are well under
// a few hundred bytes.
const maxProviderToken = 4096

// SecretsOptions configures NewSecrets.
type SecretsOptions struct {
	// RefreshInterval is how often Start's loop re-reads the stored
	// secrets (default 2 s): the delay before a change made by another
	// server on the same database is used here.
	RefreshInterval time.Duration
	Logger          *slog.Logger
}

// Secrets keeps the secrets Hypha sends on rather than checks: today the
// provider API token of POST /tokens/cf-api, which the OpenAI-compatible
// embedder uses as its API key unless one is configured by flag or
// environment. It is stored in the KV store (hypha.ProviderTokenKey)
// sealed under the server key, never returned by the API or logged, and
// kept decrypted in memory so the embedder reads it per request without a
// storage read.
type Secrets struct {
	store hypha.Store
	key   *seal.Key
	opts  SecretsOptions

	mu       sync.RWMutex
	provider providerToken // the decrypted copy; zero when none
	version  int64         // KV version of the copy; 0 when none

	reloads failureLog
	loop    periodic
}

// providerToken is what POST /tokens/cf-api stores, as sealed JSON.
type providerToken struct {
	Token     string `json:"token"`
	AccountID string `json:"account_id,omitempty"`
	SetAt     int64  `json:"set_at"`
}

// NewSecrets returns the secret store over store. key may be nil (no
// server key configured): then nothing can be stored, and saying so is
// SetProviderToken's error.
func NewSecrets(store hypha.Store, key *seal.Key, opts SecretsOptions) *Secrets {
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Secrets{store: store, key: key, opts: opts}
}

// Start reads the stored secrets once, then every RefreshInterval until
// Stop.
func (s *Secrets) Start(ctx context.Context) { s.loop.start(ctx, s.opts.RefreshInterval, s.refresh) }

// Stop ends Start's loop and waits for it.
func (s *Secrets) Stop() { s.loop.stop() }

func (s *Secrets) refresh(ctx context.Context) {
	err := s.Reload(ctx)
	if ctx.Err() != nil {
		return
	}
	s.reloads.note(s.opts.Logger, err, "cannot read the stored provider token; using the last copy", "stored provider token read again")
}

// Reload reads the stored secrets now. A token that does not open (sealed
// under another server key) counts as none, and the error says why.
func (s *Secrets) Reload(ctx context.Context) error {
	e, err := s.store.KVGet(ctx, hypha.ProviderTokenKey)
	if hypha.ErrorCode(err) == hypha.ENotFound {
		s.set(providerToken{}, 0)
		return nil
	}
	if err != nil {
		return err
	}
	s.mu.RLock()
	same := s.version == e.Version
	s.mu.RUnlock()
	if same {
		return nil
	}
	p, err := s.open(e.Value)
	if err != nil {
		s.set(providerToken{}, 0)
		return err
	}
	s.set(p, e.Version)
	return nil
}

func (s *Secrets) open(sealed []byte) (providerToken, error) {
	var p providerToken
	if s.key == nil {
		return p, hypha.Errorf(hypha.EUnavailable, "a provider token is stored but this server has no server key to open it: set server_key_file or HYPHA_SERVER_KEY")
	}
	plain, err := s.key.Open(hypha.ProviderTokenKey, string(sealed))
	if err != nil {
		return p, hypha.WrapError(hypha.EUnavailable, "cannot open the stored provider token: "+hypha.ErrorMessage(err)+"; start with the server key it was sealed under, or store it again", err)
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		return p, fmt.Errorf("decode the stored provider token: %w", err)
	}
	return p, nil
}

func (s *Secrets) set(p providerToken, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.provider, s.version = p, version
}

// validateProviderToken checks what POST /tokens/cf-api stores.
func validateProviderToken(token, accountID string) error {
	if token == "" {
		return hypha.Errorf(hypha.EInvalid, "token is required")
	}
	if len(token) > maxProviderToken {
		return hypha.Errorf(hypha.EInvalid, "token is longer than %d bytes", maxProviderToken)
	}
	for _, r := range token {
		// It goes into an Authorization header as it is.
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return hypha.Errorf(hypha.EInvalid, "token must not contain spaces or control characters")
		}
	}
	if len(accountID) > 256 {
		return hypha.Errorf(hypha.EInvalid, "account_id is longer than 256 bytes")
	}
	for _, r := range accountID {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return hypha.Errorf(hypha.EInvalid, "account_id must not contain spaces or control characters")
		}
	}
	return nil
}

// SetProviderToken stores the provider's API token and account id (POST
// /tokens/cf-api), replacing any stored before, sealed under the server
// key. Surrounding space is trimmed; the token must then be 1 to 4,096
// bytes without spaces or control characters, the account id (optional)
// at most 256. The embedder uses the new token from its next request on,
// here at once and on other servers within RefreshInterval.
func (s *Secrets) SetProviderToken(ctx context.Context, token, accountID string) error {
	token, accountID = strings.TrimSpace(token), strings.TrimSpace(accountID)
	if err := validateProviderToken(token, accountID); err != nil {
		return err
	}
	if s.key == nil {
		return hypha.Errorf(hypha.EUnavailable, "this server has no server key, so it cannot store a provider token: the operator must set server_key_file or HYPHA_SERVER_KEY (see docs/OPERATIONS.md, Server key)")
	}
	p := providerToken{Token: token, AccountID: accountID, SetAt: s.store.Now().Unix()}
	plain, err := json.Marshal(p)
	if err != nil {
		return err
	}
	sealed, err := s.key.Seal(hypha.ProviderTokenKey, plain)
	if err != nil {
		return err
	}
	meta := fmt.Appendf(nil, `{"key_id":%q,"set_at":%d}`, s.key.ID(), p.SetAt)
	v, err := s.store.KVPut(ctx, hypha.ProviderTokenKey, []byte(sealed), hypha.KVPutOptions{Metadata: meta})
	if err != nil {
		return fmt.Errorf("store provider token: %w", err)
	}
	s.set(p, v)
	return nil
}

// DeleteProviderToken removes the stored provider token (DELETE
// /tokens/cf-api); removing none is not an error. It needs no server key.
func (s *Secrets) DeleteProviderToken(ctx context.Context) error {
	if err := s.store.KVDelete(ctx, hypha.ProviderTokenKey); err != nil {
		return fmt.Errorf("delete provider token: %w", err)
	}
	s.set(providerToken{}, 0)
	return nil
}

// ProviderTokenSet says whether a usable provider token is stored, from
// memory (for /health).
func (s *Secrets) ProviderTokenSet() bool { return s.ProviderAPIKey() != "" }

// ProviderAPIKey returns the stored provider token, or "" when none is
// stored (or it does not open), from memory: the embedder's API key
// function calls it per request.
func (s *Secrets) ProviderAPIKey() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.provider.Token
}

// ProviderAccountID returns the account id stored with the provider
// token, or "".
func (s *Secrets) ProviderAccountID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.provider.AccountID
}
