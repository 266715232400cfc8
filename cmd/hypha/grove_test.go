package main

import (
	"strings"
	"testing"

	"github.com/hyphateam/hypha/internal/testdb"
)

func TestCLI_GroveSharing(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			db := dbArg(t, engine)
			if code, out, errs := runCLI(t, nil, "migrate", "up", "--db", db); code != 0 {
				t.Fatalf("migrate: %s%s", out, errs)
			}
			run := func(want int, args ...string) string {
				t.Helper()
				code, out, errs := runCLI(t, nil, append(args, "--db", db)...)
				if code != want {
					t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errs)
				}
				return out + errs
			}
			if out := run(0, "grove", "shares", "--grove", "mobile"); !strings.Contains(out, "sees no other grove") {
				t.Fatalf("shares before: %s", out)
			}
			run(0, "grove", "share", "--grove", "platform", "--with", "mobile")
			run(0, "grove", "share", "--grove", "platform", "--with", "mobile") // idempotent
			run(0, "grove", "share", "--grove", "data", "--with", "mobile")
			if out := run(0, "grove", "shares", "--grove", "mobile"); !strings.Contains(out, "data, platform") {
				t.Fatalf("shares: %s", out)
			}
			if out := run(0, "grove", "shares", "--grove", "platform"); !strings.Contains(out, "sees no other grove") {
				t.Fatalf("a grant is one-way: %s", out)
			}
			run(0, "grove", "unshare", "--grove", "data", "--with", "mobile")
			if out := run(0, "grove", "shares", "--grove", "mobile"); !strings.Contains(out, "records of: platform") {
				t.Fatalf("shares after unshare: %s", out)
			}
			if out := run(1, "grove", "share", "--grove", "mobile", "--with", "mobile"); !strings.Contains(out, "two different groves") {
				t.Fatalf("self grant: %s", out)
			}
			if out := run(2, "grove", "share", "--grove", "x"); !strings.Contains(out, "--with") {
				t.Fatalf("missing --with: %s", out)
			}
		})
	}
}
