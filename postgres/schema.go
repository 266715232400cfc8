package postgres

import (
	"context"
	"regexp"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/sqlstore"
)

// TableNames lists the base tables of the current schema.
func (dialect) TableNames() string {
	return `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
}

// DescribeTable introspects one table; a missing table has no columns.
func (dialect) DescribeTable(ctx context.Context, q sqlstore.Querier, name string) (*hypha.TableDescription, error) {
	return describeTable(ctx, q, name)
}

func describeTable(ctx context.Context, q sqlstore.Querier, name string) (*hypha.TableDescription, error) {
	t := &hypha.TableDescription{Name: name}
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, name)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c hypha.ColumnDescription
		var typ, nullable string
		var def *string
		if err := rows.Scan(&c.Name, &typ, &nullable, &def); err != nil {
			rows.Close()
			return nil, err
		}
		c.Type = normalizeType(typ)
		c.NotNull = nullable == "NO"
		if def != nil {
			c.Default = normalizeDefault(*def)
		}
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	irows, err := q.QueryContext(ctx, `SELECT i.relname, ix.indisunique, ix.indisprimary,
			EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype = 'u'),
			array_to_string(ARRAY(
				SELECT COALESCE(a.attname, '<expr>') FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
				LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
				ORDER BY k.ord), ',')
		FROM pg_index ix
		JOIN pg_class i ON i.oid = ix.indexrelid
		JOIN pg_class tb ON tb.oid = ix.indrelid
		JOIN pg_namespace n ON n.oid = tb.relnamespace
		WHERE n.nspname = current_schema() AND tb.relname = $1`, name)
	if err != nil {
		return nil, err
	}
	defer irows.Close()
	for irows.Next() {
		var iname, cols string
		var unique, primary, constraint bool
		if err := irows.Scan(&iname, &unique, &primary, &constraint, &cols); err != nil {
			return nil, err
		}
		list := strings.Split(cols, ",")
		joined := strings.Join(list, ", ")
		switch {
		case primary:
			t.PrimaryKey = list
			t.Keys = append(t.Keys, "primary key ("+joined+")")
		case constraint:
			t.Keys = append(t.Keys, "unique ("+joined+")")
		case unique:
			t.Keys = append(t.Keys, "unique index "+iname+" ("+joined+")")
		default:
			t.Keys = append(t.Keys, "index "+iname+" ("+joined+")")
		}
	}
	return t, irows.Err()
}

func normalizeType(t string) hypha.ColumnType {
	switch t {
	case "text", "character varying", "character", "json", "jsonb":
		return hypha.TypeText
	case "bigint", "integer", "smallint", "boolean":
		return hypha.TypeInteger
	case "double precision", "real", "numeric":
		return hypha.TypeReal
	case "bytea":
		return hypha.TypeBlob
	}
	return hypha.ColumnType(t)
}

var castRE = regexp.MustCompile(`::[a-z ]+(\[\])?$`)

func normalizeDefault(d string) string {
	d = strings.TrimSpace(d)
	for {
		n := castRE.ReplaceAllString(d, "")
		for strings.HasPrefix(n, "(") && strings.HasSuffix(n, ")") {
			n = strings.TrimSpace(n[1 : len(n)-1])
		}
		if n == d {
			return d
		}
		d = n
	}
}
