// Package migrate applies numbered, forward-only, expand-only schema
// migrations embedded in the binary. Each engine (sqlite/, postgres/) keeps
// its own sequence of SQL files, numbered in lockstep, and implements Driver;
// this package parses and lints the files, decides what is pending, and
// applies each step in one transaction under a cross-process lock.
//
// A step is a file NNNN_name.sql. Its statements end with ";". A line
//
//	-- +hypha add-column TABLE COLUMN TYPE...
//
// adds a column only if it is missing, because SQLite has no ADD COLUMN IF
// NOT EXISTS. The order of the seed's Procedure F is enforced by lint: a
// step that creates an index creates nothing else, so "add column → backfill
// → create index" is always three steps, and nothing is ever dropped,
// renamed or retyped.
package migrate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Step is one migration file.
type Step struct {
	Version    int
	Name       string // file name without the number and extension
	Checksum   string // hex SHA-256 of the file with LF line endings
	Statements []Statement
}

// ID returns the step's file stem, e.g. "0003_spores_grove_index".
func (s Step) ID() string { return fmt.Sprintf("%04d_%s", s.Version, s.Name) }

// Statement is one statement of a step.
type Statement struct {
	SQL       string     // the statement, without its final ";"
	AddColumn *AddColumn // set for the add-column directive (SQL is then the ALTER)
	Index     string     // name of the index a CREATE INDEX statement creates
}

// AddColumn is the idempotent add-column directive.
type AddColumn struct {
	Table, Column, Definition string
}

var fileRE = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Load reads, parses and lints every step in dir of fsys.
func Load(fsys fs.FS, dir string) ([]Step, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var steps []Step
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s: file name must be NNNN_lower_snake.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		v, _ := strconv.Atoi(m[1])
		s, err := Parse(v, m[2], string(b))
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].Version < steps[j].Version })
	for i, s := range steps {
		if s.Version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3… without gaps or repeats (expected %04d)", s.ID(), i+1)
		}
	}
	return steps, nil
}

// Parse parses and lints the text of one step.
func Parse(version int, name, text string) (Step, error) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	sum := sha256.Sum256([]byte(text))
	s := Step{Version: version, Name: name, Checksum: hex.EncodeToString(sum[:])}
	stmts, err := split(text)
	if err != nil {
		return s, fmt.Errorf("migration %s: %w", s.ID(), err)
	}
	s.Statements = stmts
	if err := lint(s); err != nil {
		return s, fmt.Errorf("migration %s: %w", s.ID(), err)
	}
	return s, nil
}

var (
	directiveRE = regexp.MustCompile(`^--\s*\+hypha\s+add-column\s+([a-z_][a-z0-9_]*)\s+([a-z_][a-z0-9_]*)\s+(.+)$`)
	indexRE     = regexp.MustCompile(`(?is)^CREATE\s+(?:UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\s+"?([a-z_][a-z0-9_]*)"?`)
)

// split cuts text into statements at ";" outside quotes, comments, dollar
// quotes and trigger bodies, and turns directive lines into statements.
func split(text string) ([]Statement, error) {
	var out []Statement
	var cur strings.Builder
	flush := func() {
		sql := strings.TrimSpace(stripComments(cur.String()))
		cur.Reset()
		if sql == "" {
			return
		}
		st := Statement{SQL: sql}
		if m := indexRE.FindStringSubmatch(sql); m != nil {
			st.Index = m[1]
		}
		out = append(out, st)
	}
	i := 0
	for i < len(text) {
		c := text[i]
		switch {
		case c == '-' && strings.HasPrefix(text[i:], "--"):
			end := strings.IndexByte(text[i:], '\n')
			if end < 0 {
				end = len(text) - i
			}
			line := strings.TrimSpace(text[i : i+end])
			if strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(line, "--")), "+hypha") {
				m := directiveRE.FindStringSubmatch(line)
				if m == nil {
					return nil, fmt.Errorf("bad directive %q: expected -- +hypha add-column TABLE COLUMN TYPE", line)
				}
				if strings.TrimSpace(stripComments(cur.String())) != "" {
					return nil, fmt.Errorf("directive %q inside an unfinished statement", line)
				}
				def := strings.TrimSuffix(strings.TrimSpace(m[3]), ";")
				out = append(out, Statement{
					SQL:       fmt.Sprintf(`ALTER TABLE %s ADD COLUMN %s %s`, m[1], m[2], def),
					AddColumn: &AddColumn{Table: m[1], Column: m[2], Definition: def},
				})
			} else {
				cur.WriteString(text[i : i+end])
			}
			i += end
		case c == '/' && strings.HasPrefix(text[i:], "/*"):
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated /* comment")
			}
			i += end + 4
		case c == '\'' || c == '"':
			j := i + 1
			for {
				k := strings.IndexByte(text[j:], c)
				if k < 0 {
					return nil, fmt.Errorf("unterminated quote")
				}
				j += k + 1
				if j < len(text) && text[j] == c { // doubled quote escapes itself
					j++
					continue
				}
				break
			}
			cur.WriteString(text[i:j])
			i = j
		case c == '$' && strings.HasPrefix(text[i:], "$$"):
			end := strings.Index(text[i+2:], "$$")
			if end < 0 {
				return nil, fmt.Errorf("unterminated $$ quote")
			}
			cur.WriteString(text[i : i+end+4])
			i += end + 4
		case c == ';':
			if inTriggerBody(cur.String()) {
				cur.WriteByte(c)
				i++
				continue
			}
			flush()
			i++
		default:
			cur.WriteByte(c)
			i++
		}
	}
	flush()
	return out, nil
}

var wordRE = regexp.MustCompile(`[A-Za-z_]+`)

// inTriggerBody reports whether sql is a SQLite CREATE TRIGGER whose
// BEGIN … END body is still open, so a ";" belongs to the body. CASE … END
// expressions inside the body nest, and words in quotes or comments do not
// count.
func inTriggerBody(sql string) bool {
	words := wordRE.FindAllString(strings.ToUpper(keywordsOnly(sql)), -1)
	if len(words) < 2 || words[0] != "CREATE" {
		return false
	}
	isTrigger := false
	for _, w := range words[1:min(4, len(words))] {
		if w == "TRIGGER" {
			isTrigger = true
		}
	}
	if !isTrigger {
		return false
	}
	depth := 0
	for _, w := range words {
		switch w {
		case "BEGIN", "CASE":
			depth++
		case "END":
			depth--
		}
	}
	return depth > 0
}

// keywordsOnly blanks out quoted strings, quoted identifiers and "--"
// comments of sql, whose quotes split has already checked are balanced.
func keywordsOnly(sql string) string {
	var b strings.Builder
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '\'' || c == '"':
			end := strings.IndexByte(sql[i+1:], c)
			if end < 0 {
				return b.String()
			}
			i += end + 1
			b.WriteByte(' ')
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				return b.String()
			}
			i += end
			b.WriteByte('\n')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

var (
	forbiddenRE = regexp.MustCompile(`(?i)^\s*(DROP\b|TRUNCATE\b|ALTER\b)`)
	allowedRE   = regexp.MustCompile(`(?is)^(CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS|CREATE\s+(UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS|CREATE\s+VIRTUAL\s+TABLE\s+IF\s+NOT\s+EXISTS|CREATE\s+TRIGGER\s+IF\s+NOT\s+EXISTS|CREATE\s+OR\s+REPLACE\s+(FUNCTION|TRIGGER)|UPDATE\s|INSERT\s)`)
)

// lint enforces expand-only, idempotent steps with index creation alone in
// its step.
func lint(s Step) error {
	if len(s.Statements) == 0 {
		return fmt.Errorf("step has no statements")
	}
	indexes := 0
	for _, st := range s.Statements {
		if st.AddColumn != nil {
			continue
		}
		first := firstLine(st.SQL)
		if forbiddenRE.MatchString(st.SQL) {
			return fmt.Errorf("%q: migrations are expand-only (no DROP, TRUNCATE, RENAME or raw ALTER TABLE; add columns with the add-column directive)", first)
		}
		if !allowedRE.MatchString(st.SQL) {
			return fmt.Errorf("%q: only CREATE … IF NOT EXISTS, add-column directives, UPDATE backfills and INSERT seeds are allowed", first)
		}
		if st.Index != "" {
			indexes++
		}
	}
	if indexes > 0 && indexes != len(s.Statements) {
		return fmt.Errorf("a step that creates indexes must create nothing else: add column → backfill → create index are separate steps")
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
