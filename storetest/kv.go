package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hyphateam/hypha"
)

func mustKVPut(t testing.TB, s hypha.Queries, key, value string, opts hypha.KVPutOptions) int64 {
	t.Helper()
	v, err := s.KVPut(t.Context(), key, []byte(value), opts)
	if err != nil {
		t.Fatalf("KVPut(%q): %v", key, err)
	}
	return v
}

func mustKVGet(t testing.TB, s hypha.Queries, key string) *hypha.KVEntry {
	t.Helper()
	e, err := s.KVGet(t.Context(), key)
	if err != nil {
		t.Fatalf("KVGet(%q): %v", key, err)
	}
	return e
}

func wantKVMissing(t testing.TB, s hypha.Queries, key string) {
	t.Helper()
	e, err := s.KVGet(t.Context(), key)
	if hypha.ErrorCode(err) != hypha.ENotFound {
		t.Fatalf("KVGet(%q) = %+v, %v; want not_found", key, e, err)
	}
}

func ifVersion(v int64) *int64 { return &v }

func testKV(t *testing.T, open OpenFunc) {
	t.Run("PutGetDelete", func(t *testing.T) {
		s, _ := setup(t, open)
		if v := mustKVPut(t, s, "greeting", "hello", hypha.KVPutOptions{}); v != 1 {
			t.Fatalf("first version = %d, want 1", v)
		}
		want := &hypha.KVEntry{Key: "greeting", Value: []byte("hello"), Version: 1}
		if got := mustKVGet(t, s, "greeting"); !reflect.DeepEqual(got, want) {
			t.Fatalf("KVGet = %+v, want %+v", got, want)
		}
		if err := s.KVDelete(t.Context(), "greeting"); err != nil {
			t.Fatalf("KVDelete: %v", err)
		}
		wantKVMissing(t, s, "greeting")
		if err := s.KVDelete(t.Context(), "greeting"); err != nil {
			t.Fatalf("KVDelete of a missing key: %v", err)
		}
	})
	t.Run("GetMissingIsNotFound", func(t *testing.T) {
		s, _ := setup(t, open)
		e, err := s.KVGet(t.Context(), "nope")
		wantCode(t, err, hypha.ENotFound)
		if e != nil {
			t.Fatalf("KVGet returned %+v with its error", e)
		}
	})
	t.Run("EmptyKeyIsInvalid", func(t *testing.T) {
		s, _ := setup(t, open)
		_, err := s.KVPut(t.Context(), "", []byte("v"), hypha.KVPutOptions{})
		wantCode(t, err, hypha.EInvalid)
	})
	t.Run("ValuesRoundTripExactly", func(t *testing.T) {
		s, _ := setup(t, open)
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		cases := []struct {
			name  string
			value []byte
		}{
			{"Empty", []byte{}},
			{"Nil", nil},
			{"EveryByte", all},
			{"InvalidUTF8", []byte{0xff, 0xfe, 0x00, 0xc3}},
			{"Large", bytes.Repeat([]byte("0123456789abcdef"), 64<<10)},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.KVPut(t.Context(), "v/"+tc.name, tc.value, hypha.KVPutOptions{}); err != nil {
					t.Fatalf("KVPut: %v", err)
				}
				if got := mustKVGet(t, s, "v/"+tc.name).Value; !bytes.Equal(got, tc.value) {
					t.Fatalf("value of %d bytes came back as %d bytes", len(tc.value), len(got))
				}
			})
		}
	})
	t.Run("Metadata", func(t *testing.T) {
		s, _ := setup(t, open)
		meta := []byte(`{"owner":"alice","tags":["a","b"],"n":1}`)
		mustKVPut(t, s, "k", "v1", hypha.KVPutOptions{Metadata: meta})
		if got := mustKVGet(t, s, "k").Metadata; !bytes.Equal(got, meta) {
			t.Fatalf("metadata = %q, want %q", got, meta)
		}
		page, err := s.KVList(t.Context(), hypha.KVListOptions{})
		if err != nil {
			t.Fatalf("KVList: %v", err)
		}
		if len(page.Keys) != 1 || !bytes.Equal(page.Keys[0].Metadata, meta) {
			t.Fatalf("KVList = %+v, want k with its metadata", page.Keys)
		}
		mustKVPut(t, s, "k", "v2", hypha.KVPutOptions{})
		if got := mustKVGet(t, s, "k"); got.Metadata != nil || string(got.Value) != "v2" {
			t.Fatalf("after a put without metadata: %+v, want no metadata", got)
		}
	})
	t.Run("VersionsGrowAndNeverRepeat", func(t *testing.T) {
		s, _ := setup(t, open)
		seen := map[int64]bool{}
		last := int64(0)
		for i := 1; i <= 5; i++ {
			v := mustKVPut(t, s, "counter", fmt.Sprint(i), hypha.KVPutOptions{})
			if v <= last {
				t.Fatalf("write %d returned version %d, not above the previous %d", i, v, last)
			}
			last, seen[v] = v, true
		}
		if e := mustKVGet(t, s, "counter"); e.Version != last || string(e.Value) != "5" {
			t.Fatalf("KVGet = %+v, want version %d", e, last)
		}
		if v := mustKVPut(t, s, "other", "x", hypha.KVPutOptions{}); seen[v] || v <= last {
			t.Fatalf("another key got version %d, which is not new", v)
		}
		// A key deleted and written again never shows an old version.
		if err := s.KVDelete(t.Context(), "counter"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.KVSweep(t.Context()); err != nil {
			t.Fatal(err)
		}
		if v := mustKVPut(t, s, "counter", "again", hypha.KVPutOptions{}); seen[v] || v <= last {
			t.Fatalf("re-created key got version %d, already used before its delete", v)
		}
	})
}

func testKVCompareAndSet(t *testing.T, open OpenFunc) {
	t.Run("CreateOnlyIfAbsent", func(t *testing.T) {
		s, _ := setup(t, open)
		v1 := mustKVPut(t, s, "lock", "first", hypha.KVPutOptions{IfVersion: ifVersion(0)})
		_, err := s.KVPut(t.Context(), "lock", []byte("second"), hypha.KVPutOptions{IfVersion: ifVersion(0)})
		wantConflict(t, err, "lock", 0, v1)
		if e := mustKVGet(t, s, "lock"); string(e.Value) != "first" || e.Version != v1 {
			t.Fatalf("after a refused create: %+v, want first at version %d", e, v1)
		}
	})
	t.Run("WriteOnlyAtVersion", func(t *testing.T) {
		s, _ := setup(t, open)
		v1 := mustKVPut(t, s, "k", "v1", hypha.KVPutOptions{})
		v2 := mustKVPut(t, s, "k", "v2", hypha.KVPutOptions{})
		_, err := s.KVPut(t.Context(), "k", []byte("stale"), hypha.KVPutOptions{IfVersion: ifVersion(v1)})
		wantConflict(t, err, "k", v1, v2)
		_, err = s.KVPut(t.Context(), "k", []byte("future"), hypha.KVPutOptions{IfVersion: ifVersion(v2 + 100)})
		wantConflict(t, err, "k", v2+100, v2)
		v3 := mustKVPut(t, s, "k", "v3", hypha.KVPutOptions{IfVersion: ifVersion(v2)})
		if v3 <= v2 {
			t.Fatalf("CAS at version %d returned %d, want a newer version", v2, v3)
		}
		if e := mustKVGet(t, s, "k"); string(e.Value) != "v3" || e.Version != v3 {
			t.Fatalf("KVGet = %+v, want v3 at version %d", e, v3)
		}
		_, err = s.KVPut(t.Context(), "missing", []byte("x"), hypha.KVPutOptions{IfVersion: ifVersion(v3)})
		wantConflict(t, err, "missing", v3, 0)
		wantKVMissing(t, s, "missing")
	})
	t.Run("VersionKeepsGrowingAcrossExpiry", func(t *testing.T) {
		s, c := setup(t, open)
		va := mustKVPut(t, s, "lease", "a", hypha.KVPutOptions{TTL: 10 * time.Second, IfVersion: ifVersion(0)})
		vb := mustKVPut(t, s, "lease", "b", hypha.KVPutOptions{TTL: 10 * time.Second, IfVersion: ifVersion(va)})
		c.Advance(11 * time.Second)
		wantKVMissing(t, s, "lease")
		_, err := s.KVPut(t.Context(), "lease", []byte("stale"), hypha.KVPutOptions{IfVersion: ifVersion(vb)})
		wantConflict(t, err, "lease", vb, 0)
		vc := mustKVPut(t, s, "lease", "c", hypha.KVPutOptions{TTL: 10 * time.Second, IfVersion: ifVersion(0)})
		if vc <= vb {
			t.Fatalf("create after expiry returned version %d, not above %d: versions must never repeat", vc, vb)
		}
		if e := mustKVGet(t, s, "lease"); string(e.Value) != "c" || e.Version != vc || e.ExpiresAt != c.Unix()+10 {
			t.Fatalf("KVGet = %+v, want c at version %d expiring at %d", e, vc, c.Unix()+10)
		}
		c.Advance(11 * time.Second)
		if v := mustKVPut(t, s, "lease", "d", hypha.KVPutOptions{}); v <= vc {
			t.Fatalf("unconditional put after expiry returned version %d, not above %d", v, vc)
		}
	})
	t.Run("ConcurrentUpdateHasOneWinner", func(t *testing.T) {
		s, _ := setup(t, open)
		mustKVPut(t, s, "race", "start", hypha.KVPutOptions{})
		read := mustKVGet(t, s, "race").Version
		winner := race(t, s, "race", read)
		if e := mustKVGet(t, s, "race"); e.Version <= read || string(e.Value) != winner {
			t.Fatalf("KVGet = %+v, want the winner's %q at a version above %d", e, winner, read)
		}
	})
	t.Run("ConcurrentCreateHasOneWinner", func(t *testing.T) {
		s, _ := setup(t, open)
		winner := race(t, s, "fresh", 0)
		if e := mustKVGet(t, s, "fresh"); e.Version < 1 || string(e.Value) != winner {
			t.Fatalf("KVGet = %+v, want the winner's %q", e, winner)
		}
	})
}

// race has several goroutines write key with IfVersion=&read at once; it
// checks exactly one wins, the others get a ConflictError, and returns the
// winner's value.
func race(t *testing.T, s hypha.Store, key string, read int64) string {
	t.Helper()
	const n = 8
	type result struct {
		version int64
		err     error
	}
	results := make([]result, n)
	ready := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-ready
			v, err := s.KVPut(t.Context(), key, []byte(fmt.Sprint("writer-", i)), hypha.KVPutOptions{IfVersion: ifVersion(read)})
			results[i] = result{v, err}
		})
	}
	close(ready)
	wg.Wait()
	winner := ""
	for i, r := range results {
		if r.err == nil {
			if winner != "" {
				t.Fatalf("two writers won the compare-and-set: %s and writer-%d", winner, i)
			}
			if r.version != read+1 {
				t.Fatalf("the winner got version %d, want %d", r.version, read+1)
			}
			winner = fmt.Sprint("writer-", i)
			continue
		}
		wantConflict(t, r.err, key, read, read+1)
	}
	if winner == "" {
		t.Fatal("no writer won the compare-and-set")
	}
	return winner
}

func listNames(t testing.TB, s hypha.Queries, opts hypha.KVListOptions) []string {
	t.Helper()
	page, err := s.KVList(t.Context(), opts)
	if err != nil {
		t.Fatalf("KVList(%+v): %v", opts, err)
	}
	var names []string
	for _, k := range page.Keys {
		names = append(names, k.Name)
	}
	return names
}

func testKVList(t *testing.T, open OpenFunc) {
	t.Run("PagesByPrefix", func(t *testing.T) {
		s, _ := setup(t, open)
		versions := map[string]int64{}
		for _, k := range []string{"app/e", "app/a", "app/c", "app/b", "app/d", "ap", "app", "apq/x", "b/app/x", "xapp/a", "APP/a"} {
			versions[k] = mustKVPut(t, s, k, "v", hypha.KVPutOptions{})
		}
		var pages [][]string
		opts := hypha.KVListOptions{Prefix: "app/", Limit: 2}
		for range 10 {
			page, err := s.KVList(t.Context(), opts)
			if err != nil {
				t.Fatalf("KVList(%+v): %v", opts, err)
			}
			var names []string
			for _, k := range page.Keys {
				names = append(names, k.Name)
				if k.Version != versions[k.Name] {
					t.Errorf("key %s listed with version %d, want %d", k.Name, k.Version, versions[k.Name])
				}
			}
			pages = append(pages, names)
			if page.Cursor == "" {
				break
			}
			opts.Cursor = page.Cursor
		}
		want := [][]string{{"app/a", "app/b"}, {"app/c", "app/d"}, {"app/e"}}
		if !reflect.DeepEqual(pages, want) {
			t.Fatalf("pages = %v, want %v", pages, want)
		}
	})
	t.Run("LastFullPageHasNoCursor", func(t *testing.T) {
		s, _ := setup(t, open)
		for _, k := range []string{"p/1", "p/2", "p/3", "p/4", "q"} {
			mustKVPut(t, s, k, "v", hypha.KVPutOptions{})
		}
		page, err := s.KVList(t.Context(), hypha.KVListOptions{Prefix: "p/", Limit: 2, Cursor: "p/2"})
		if err != nil {
			t.Fatalf("KVList: %v", err)
		}
		if len(page.Keys) != 2 || page.Cursor != "" {
			t.Fatalf("last page = %+v, want p/3 and p/4 with no cursor", page)
		}
	})
	t.Run("PrefixIsLiteral", func(t *testing.T) {
		s, _ := setup(t, open)
		keys := []string{"a%b/1", "a%b/2", "aXb/1", "a_b/1", "aYb/1", `a\b/1`, `a\\b/1`, "a%%b/1", "é/1", "é/2", "e/1", "éa/1"}
		for _, k := range keys {
			mustKVPut(t, s, k, "v", hypha.KVPutOptions{})
		}
		cases := []struct {
			prefix string
			want   []string
		}{
			{"a%b/", []string{"a%b/1", "a%b/2"}},
			{"a_b/", []string{"a_b/1"}},
			{"a%", []string{"a%%b/1", "a%b/1", "a%b/2"}},
			{`a\b`, []string{`a\b/1`}},
			{"é/", []string{"é/1", "é/2"}},
			{"nothing", nil},
		}
		for _, tc := range cases {
			if got := listNames(t, s, hypha.KVListOptions{Prefix: tc.prefix}); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("KVList(prefix %q) = %v, want %v", tc.prefix, got, tc.want)
			}
		}
		if got := listNames(t, s, hypha.KVListOptions{}); len(got) != len(keys) {
			t.Errorf("KVList without prefix lists %d keys, want %d", len(got), len(keys))
		}
	})
	t.Run("OrderIsBytewise", func(t *testing.T) {
		s, _ := setup(t, open)
		for _, k := range []string{"k/b", "k/B", "k/a", "k/_", "k/ä", "k/1", "k/ "} {
			mustKVPut(t, s, k, "v", hypha.KVPutOptions{})
		}
		want := []string{"k/ ", "k/1", "k/B", "k/_", "k/a", "k/b", "k/ä"}
		if got := listNames(t, s, hypha.KVListOptions{Prefix: "k/"}); !reflect.DeepEqual(got, want) {
			t.Fatalf("KVList = %q, want bytewise order %q", got, want)
		}
	})
	t.Run("ListsMetadataVersionAndExpiry", func(t *testing.T) {
		s, c := setup(t, open)
		mustKVPut(t, s, "m/1", "v", hypha.KVPutOptions{Metadata: []byte(`{"x":1}`), TTL: time.Minute})
		mustKVPut(t, s, "m/1", "v", hypha.KVPutOptions{Metadata: []byte(`{"x":2}`), TTL: time.Minute})
		page, err := s.KVList(t.Context(), hypha.KVListOptions{Prefix: "m/"})
		if err != nil {
			t.Fatalf("KVList: %v", err)
		}
		want := []hypha.KVKey{{Name: "m/1", Metadata: []byte(`{"x":2}`), Version: 2, ExpiresAt: c.Unix() + 60}}
		if !reflect.DeepEqual(page.Keys, want) || page.Cursor != "" {
			t.Fatalf("KVList = %+v, want %+v and no cursor", page, want)
		}
	})
}
