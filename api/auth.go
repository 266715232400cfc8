package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// Authenticator resolves a bearer secret to the principal it belongs to. It
// returns an unauthorized, token_expired or token_revoked error otherwise,
// and must compare secrets in constant time.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (*hypha.Principal, error)
}

// access is what a route requires.
type access int

const (
	teamKeyOnly access = iota // a Team Key (org-level)
	groveRead                 // a Team Key, or a grove token of the request's grove
)

// reqState is what the auth middleware learned about a request.
type reqState struct {
	principal *hypha.Principal
	grove     string
}

type stateKey struct{}

// principalOf returns the authenticated principal, or nil on public routes.
func principalOf(r *http.Request) *hypha.Principal {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st.principal
	}
	return nil
}

// groveOf returns the grove the request acts in.
func groveOf(r *http.Request) string {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st.grove
	}
	return hypha.DefaultGroveID
}

// bearer extracts the secret of an Authorization header. ok is false when
// the header is absent; a present header with another scheme yields "".
func bearer(r *http.Request) (secret string, present bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(rest), true
}

// authenticate checks the credential of r for a route needing need and
// resolves the grove the request acts in.
func (s *Server) authenticate(r *http.Request, need access) (*reqState, error) {
	secret, present := bearer(r)
	if !present {
		return nil, hypha.Errorf(hypha.EUnauthorized, "Missing Authorization header")
	}
	if secret == "" {
		return nil, hypha.Errorf(hypha.EUnauthorized, "Invalid Team key: expected 'Authorization: Bearer <key>'")
	}
	p, err := s.Auth.Authenticate(r.Context(), secret)
	if err != nil {
		return nil, err
	}
	grove := strings.TrimSpace(r.Header.Get(wire.HeaderGrove))
	if grove != "" {
		if err := hypha.ValidateGroveID(grove); err != nil {
			return nil, err
		}
	}
	switch p.Kind {
	case hypha.CredentialTeamKey:
		if grove == "" {
			grove = hypha.DefaultGroveID
		}
	default:
		if grove == "" {
			grove = p.GroveID
		}
		if grove != p.GroveID {
			return nil, hypha.Errorf(hypha.EGroveForbidden, "this credential is scoped to grove %q and cannot act in grove %q; use a credential of that grove or a Team Key", p.GroveID, grove)
		}
		if need == teamKeyOnly {
			return nil, hypha.Errorf(hypha.EForbidden, "this route needs a Team Key; a grove MCP token (scoped to grove %q) only reads", p.GroveID)
		}
	}
	return &reqState{principal: p, grove: grove}, nil
}

// guard wraps h with the schema gate, authentication for need and the
// protocol header.
func (s *Server) guard(need access, h http.HandlerFunc) http.Handler {
	return s.requireSchema(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := s.authenticate(r, need)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set(wire.HeaderProtocol, strconv.Itoa(hypha.SyncProtocolVersion))
		h(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	}))
}
