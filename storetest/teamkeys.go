package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
)

// digestOf returns a well-formed, distinct hex digest for n.
func digestOf(n int) string { return fmt.Sprintf("%064x", n) }

func mustCreateTeamKey(t testing.TB, s hypha.Queries, k *hypha.TeamKey, digest string) {
	t.Helper()
	if err := s.CreateTeamKey(t.Context(), k, digest); err != nil {
		t.Fatalf("CreateTeamKey(%s): %v", k.ID, err)
	}
}

func testTeamKeys(t *testing.T, open OpenFunc) {
	t.Run("CreateThenFind", func(t *testing.T) {
		s, c := setup(t, open)
		k := &hypha.TeamKey{ID: "tk_1", Name: "laptop", ExpiresAt: c.Unix() + 3600}
		mustCreateTeamKey(t, s, k, digestOf(1))
		want := &hypha.TeamKey{ID: "tk_1", Name: "laptop", Status: hypha.StatusActive, Digest: digestOf(1), CreatedAt: c.Unix(), ExpiresAt: c.Unix() + 3600}
		if !reflect.DeepEqual(k, want) {
			t.Fatalf("CreateTeamKey filled %+v, want %+v (created_at from the store clock, status active)", k, want)
		}
		byID, err := s.FindTeamKeyByID(t.Context(), "tk_1")
		if err != nil {
			t.Fatalf("FindTeamKeyByID: %v", err)
		}
		byDigest, err := s.FindTeamKeyByDigest(t.Context(), digestOf(1))
		if err != nil {
			t.Fatalf("FindTeamKeyByDigest: %v", err)
		}
		if !reflect.DeepEqual(byID, want) || !reflect.DeepEqual(byDigest, want) {
			t.Fatalf("found %+v by id and %+v by digest, want %+v", byID, byDigest, want)
		}
	})
	t.Run("NoExpiryIsZero", func(t *testing.T) {
		s, _ := setup(t, open)
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_forever", Name: "ops"}, digestOf(2))
		k, err := s.FindTeamKeyByID(t.Context(), "tk_forever")
		if err != nil {
			t.Fatalf("FindTeamKeyByID: %v", err)
		}
		if k.ExpiresAt != 0 || k.RevokedAt != 0 {
			t.Fatalf("expires_at = %d, revoked_at = %d; want 0 and 0", k.ExpiresAt, k.RevokedAt)
		}
	})
	t.Run("MissesAreNotFound", func(t *testing.T) {
		s, _ := setup(t, open)
		k, err := s.FindTeamKeyByID(t.Context(), "tk_none")
		wantCode(t, err, hypha.ENotFound)
		if k != nil {
			t.Fatalf("FindTeamKeyByID returned %+v with its error", k)
		}
		_, err = s.FindTeamKeyByDigest(t.Context(), digestOf(3))
		wantCode(t, err, hypha.ENotFound)
		wantCode(t, s.RevokeTeamKey(t.Context(), "tk_none", start.Unix()), hypha.ENotFound)
	})
	t.Run("DuplicateIDOrDigestIsConflict", func(t *testing.T) {
		s, _ := setup(t, open)
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_a", Name: "first"}, digestOf(1))
		wantCode(t, s.CreateTeamKey(t.Context(), &hypha.TeamKey{ID: "tk_a", Name: "same id"}, digestOf(2)), hypha.EConflict)
		wantCode(t, s.CreateTeamKey(t.Context(), &hypha.TeamKey{ID: "tk_b", Name: "same secret"}, digestOf(1)), hypha.EConflict)
		keys, err := s.ListTeamKeys(t.Context())
		if err != nil {
			t.Fatalf("ListTeamKeys: %v", err)
		}
		if len(keys) != 1 || keys[0].Name != "first" {
			t.Fatalf("after refused creates, keys = %+v; want only the first", keys)
		}
	})
	t.Run("ConflictKeepsTransactionUsable", func(t *testing.T) {
		s, _ := setup(t, open)
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_a", Name: "first"}, digestOf(1))
		err := s.InTx(t.Context(), func(tx hypha.Queries) error {
			wantCode(t, tx.CreateTeamKey(t.Context(), &hypha.TeamKey{ID: "tk_b", Name: "clash"}, digestOf(1)), hypha.EConflict)
			return tx.CreateTeamKey(t.Context(), &hypha.TeamKey{ID: "tk_c", Name: "after"}, digestOf(4))
		})
		if err != nil {
			t.Fatalf("InTx after a conflict: %v", err)
		}
		if _, err := s.FindTeamKeyByID(t.Context(), "tk_c"); err != nil {
			t.Fatalf("the key created after the conflict is missing: %v", err)
		}
	})
	t.Run("MissingIDOrDigestIsInvalid", func(t *testing.T) {
		s, _ := setup(t, open)
		wantCode(t, s.CreateTeamKey(t.Context(), &hypha.TeamKey{Name: "no id"}, digestOf(1)), hypha.EInvalid)
		wantCode(t, s.CreateTeamKey(t.Context(), &hypha.TeamKey{ID: "tk_x"}, ""), hypha.EInvalid)
	})
	t.Run("ListOldestFirst", func(t *testing.T) {
		s, c := setup(t, open)
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_z", Name: "first"}, digestOf(1))
		c.Advance(time.Minute)
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_b", Name: "second"}, digestOf(2))
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_a", Name: "third"}, digestOf(3))
		keys, err := s.ListTeamKeys(t.Context())
		if err != nil {
			t.Fatalf("ListTeamKeys: %v", err)
		}
		var got []string
		for _, k := range keys {
			got = append(got, k.ID+"/"+k.Digest)
		}
		if want := []string{"tk_z/" + digestOf(1), "tk_a/" + digestOf(3), "tk_b/" + digestOf(2)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("ListTeamKeys = %v, want %v (created_at, then id; digests included)", got, want)
		}
	})
	t.Run("ListEmpty", func(t *testing.T) {
		s, _ := setup(t, open)
		keys, err := s.ListTeamKeys(t.Context())
		if err != nil || len(keys) != 0 {
			t.Fatalf("ListTeamKeys = %v, %v; want none", keys, err)
		}
	})
	t.Run("RevokeKeepsFirstTime", func(t *testing.T) {
		s, c := setup(t, open)
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_r", Name: "leaked"}, digestOf(1))
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_other", Name: "kept"}, digestOf(2))
		if err := s.RevokeTeamKey(t.Context(), "tk_r", c.Unix()+10); err != nil {
			t.Fatalf("RevokeTeamKey: %v", err)
		}
		if err := s.RevokeTeamKey(t.Context(), "tk_r", c.Unix()+99); err != nil {
			t.Fatalf("second RevokeTeamKey: %v", err)
		}
		k, err := s.FindTeamKeyByDigest(t.Context(), digestOf(1))
		if err != nil {
			t.Fatalf("FindTeamKeyByDigest of a revoked key: %v", err)
		}
		if k.Status != hypha.StatusRevoked || k.RevokedAt != c.Unix()+10 {
			t.Fatalf("revoked key = %+v; want status revoked at the first revocation time", k)
		}
		if got := k.EffectiveStatus(c.Unix()); got != hypha.StatusRevoked {
			t.Fatalf("EffectiveStatus = %q, want revoked", got)
		}
		other, err := s.FindTeamKeyByID(t.Context(), "tk_other")
		if err != nil || other.Status != hypha.StatusActive || other.RevokedAt != 0 {
			t.Fatalf("the other key = %+v, %v; want it untouched", other, err)
		}
	})
	t.Run("RevokeInRolledBackTxDoesNothing", func(t *testing.T) {
		s, c := setup(t, open)
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_r", Name: "kept"}, digestOf(1))
		boom := errors.New("boom")
		err := s.InTx(t.Context(), func(tx hypha.Queries) error {
			if err := tx.RevokeTeamKey(t.Context(), "tk_r", c.Unix()); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want the callback's error", err)
		}
		k, err := s.FindTeamKeyByID(t.Context(), "tk_r")
		if err != nil || k.Status != hypha.StatusActive {
			t.Fatalf("after a rolled-back revoke, key = %+v, %v; want active", k, err)
		}
	})
	t.Run("EffectiveStatusExpires", func(t *testing.T) {
		s, c := setup(t, open)
		mustCreateTeamKey(t, s, &hypha.TeamKey{ID: "tk_e", Name: "short", ExpiresAt: c.Unix() + 60}, digestOf(1))
		k, err := s.FindTeamKeyByID(t.Context(), "tk_e")
		if err != nil {
			t.Fatalf("FindTeamKeyByID: %v", err)
		}
		if got := k.EffectiveStatus(c.Unix() + 59); got != hypha.StatusActive {
			t.Fatalf("a second before expiry, status = %q, want active", got)
		}
		if got := k.EffectiveStatus(c.Unix() + 60); got != hypha.StatusExpired {
			t.Fatalf("at expiry, status = %q, want expired", got)
		}
	})
}
