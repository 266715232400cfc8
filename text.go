package hypha

import (
	"strings"
	"unicode/utf8"
)

// ValidText reports whether every engine can store s as text: valid UTF-8
// without a NUL byte. PostgreSQL refuses both in a text value (and fails
// the whole statement, so the whole batch), while SQLite stores them as
// given; text that is not ValidText would make the engines disagree.
func ValidText(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// ValidateKeyText refuses, as an invalid-input error, a key value that is
// not ValidText: a record id, a machine id, a project id, a manifest
// cursor, a team_config key. field names the value in the message, e.g.
// "machine_id". Callers check every key before it reaches a store, so a
// lookup with such bytes is a 400 on both engines, never a store error;
// the HTTP layer can call it on path and query values as well.
func ValidateKeyText(field, value string) error {
	if i := strings.IndexByte(value, 0); i >= 0 {
		return Errorf(EInvalid, "%s contains a NUL byte (at byte %d): ids and keys must be UTF-8 text without NUL", field, i)
	}
	if !utf8.ValidString(value) {
		return Errorf(EInvalid, "%s is not valid UTF-8 (%q): ids and keys must be UTF-8 text without NUL", field, truncate(value, 40))
	}
	return nil
}
