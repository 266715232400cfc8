package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/app"
	"github.com/hyphateam/hypha/internal/sqlstore"
	"github.com/hyphateam/hypha/internal/testclock"
	"github.com/hyphateam/hypha/internal/testdb"
)

func TestSecrets_ProviderToken(t *testing.T) {
	eachCredEngine(t, func(t *testing.T, db *sqlstore.DB, _ *testclock.Clock) {
		ctx := context.Background()
		key := newKey(t)
		a, b := app.NewSecrets(db, key, app.SecretsOptions{}), app.NewSecrets(db, key, app.SecretsOptions{})
		b.Start(ctx)
		defer b.Stop()
		if a.ProviderTokenSet() || a.ProviderAPIKey() != "" {
			t.Fatal("a token before any was set")
		}
		const token = "cf-token-0123456789abcdef"
		if err := a.SetProviderToken(ctx, "  "+token+"\n", "acc123"); err != nil {
			t.Fatal(err)
		}
		if !a.ProviderTokenSet() || a.ProviderAPIKey() != token || a.ProviderAccountID() != "acc123" {
			t.Fatalf("after set: %v %q %q", a.ProviderTokenSet(), a.ProviderAPIKey(), a.ProviderAccountID())
		}
		assertNotStored(t, db, token)
		// Another server picks it up on its next reload.
		if err := b.Reload(ctx); err != nil || b.ProviderAPIKey() != token {
			t.Fatalf("other server: %q, %v", b.ProviderAPIKey(), err)
		}
		// Replaced.
		if err := a.SetProviderToken(ctx, "second", ""); err != nil {
			t.Fatal(err)
		}
		if err := b.Reload(ctx); err != nil || b.ProviderAPIKey() != "second" || b.ProviderAccountID() != "" {
			t.Fatalf("after replacing: %q, %v", b.ProviderAPIKey(), err)
		}

		// A server with another key cannot open it: it reports none and
		// says why.
		other := app.NewSecrets(db, newKey(t), app.SecretsOptions{})
		err := other.Reload(ctx)
		wantCode(t, err, hypha.EUnavailable)
		if other.ProviderTokenSet() {
			t.Fatal("a token that does not open counts as set")
		}
		noKey := app.NewSecrets(db, nil, app.SecretsOptions{})
		wantCode(t, noKey.Reload(ctx), hypha.EUnavailable)
		err = noKey.SetProviderToken(ctx, "x", "")
		wantCode(t, err, hypha.EUnavailable)
		if !strings.Contains(hypha.ErrorMessage(err), "HYPHA_SERVER_KEY") {
			t.Fatalf("no-key message %q", hypha.ErrorMessage(err))
		}

		// Delete needs no key; deleting none is fine.
		if err := noKey.DeleteProviderToken(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.DeleteProviderToken(ctx); err != nil || a.ProviderTokenSet() {
			t.Fatalf("after delete: %v %v", a.ProviderTokenSet(), err)
		}
		if err := b.Reload(ctx); err != nil || b.ProviderTokenSet() {
			t.Fatalf("other server after delete: %v %v", b.ProviderTokenSet(), err)
		}
	})
}

func TestSecrets_ProviderTokenValidation(t *testing.T) {
	db := testdb.MustOpen(t, "sqlite")
	s := app.NewSecrets(db, newKey(t), app.SecretsOptions{})
	long := strings.Repeat("a", 4097)
	for _, tt := range []struct{ name, token, account string }{
		{"empty", "", "a"}, {"blank", "  \t ", ""}, {"too_long", long, ""},
		{"inner_space", "ab cd", ""}, {"newline", "ab\ncd", ""}, {"control", "ab\x00cd", ""}, {"invalid_utf8", "ab\xffcd", ""},
		{"account_control", "tok", "a\x01"}, {"account_too_long", "tok", strings.Repeat("a", 257)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, s.SetProviderToken(context.Background(), tt.token, tt.account), hypha.EInvalid)
			if s.ProviderTokenSet() {
				t.Fatal("a refused token was kept")
			}
		})
	}
	if err := s.SetProviderToken(context.Background(), strings.Repeat("a", 4096), ""); err != nil {
		t.Fatalf("a 4 KiB token: %v", err)
	}
}
