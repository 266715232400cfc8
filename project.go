package hypha

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Projects of rows from clients that predate project ids.
//
// Myco daemons of sync protocol 1 and 2 (0.12.x) send rows without a
// project_id: sessions carry the directory they ran in (project_root,
// often null), the other tables nothing, and some daemons sent the root
// itself as the project id. The 0.12 worker stored such rows as they came.
// Hypha stores them too, each in a project derived from its root, so they
// are listed, filtered and counted like any other row, and the same root
// in the same grove always lands in the same project whichever machine
// sent it. The grove is part of the derivation because a project lives in
// exactly one grove.

// DefaultProjectName is the name of a grove's default project.
const DefaultProjectName = "default"

// maxProjectNameBytes bounds a derived project's name.
const maxProjectNameBytes = 200

// LegacyProjectID returns the project of rows that a client of protocol
// 1 or 2 sent from project root root in grove: "proj_" followed by the
// first 32 hex digits of
//
//	SHA-256("hypha legacy project" NUL len(grove) ":" grove root)
//
// with len(grove) in decimal and root in its normalized form
// (NormalizeProjectRoot). A root that is empty once normalized gives the
// grove's default project.
func LegacyProjectID(grove, root string) string {
	root = NormalizeProjectRoot(root)
	if root == "" {
		return DefaultProjectID(grove)
	}
	return derivedProjectID("hypha legacy project", grove, root)
}

// DefaultProjectID returns the grove's default project: where rows of
// protocol 1 and 2 clients that name no project root are filed. It is
// derived as LegacyProjectID with the label "hypha default project" and
// an empty root.
func DefaultProjectID(grove string) string {
	return derivedProjectID("hypha default project", grove, "")
}

func derivedProjectID(label, grove, root string) string {
	// The grove's length comes first, so no (grove, root) pair can be
	// shifted into another one whatever bytes they hold.
	sum := sha256.Sum256([]byte(label + "\x00" + strconv.Itoa(len(grove)) + ":" + grove + root))
	return "proj_" + hex.EncodeToString(sum[:])[:32]
}

// NormalizeProjectRoot returns the form of a project root that
// LegacyProjectID hashes: surrounding spaces trimmed, Windows separators
// turned into slashes and trailing separators dropped (a lone "/" stays),
// so "C:\src\app\", "C:/src/app" and "C:\src\app" are one project.
// Nothing else is rewritten: "a/../b" and "a//b" are not resolved, and
// letter case is kept.
func NormalizeProjectRoot(root string) string {
	root = strings.TrimSpace(root)
	if root == "" {
		return ""
	}
	root = strings.ReplaceAll(root, `\`, "/")
	if trimmed := strings.TrimRight(root, "/"); trimmed != "" {
		return trimmed
	}
	return "/"
}

// LegacyProjectName names the project LegacyProjectID derives from root:
// the root's last path element ("app" for "/src/app/" or `C:\src\app`),
// at most 200 bytes; DefaultProjectName for an empty root.
func LegacyProjectName(root string) string {
	root = NormalizeProjectRoot(root)
	if root == "" {
		return DefaultProjectName
	}
	name := root
	if i := strings.LastIndexByte(root, '/'); i >= 0 && i < len(root)-1 {
		name = root[i+1:]
	}
	if len(name) > maxProjectNameBytes {
		cut := maxProjectNameBytes
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut-- // never split a character
		}
		name = name[:cut]
	}
	return name
}
