package sqlite

import (
	"context"
	"sort"
	"strings"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/sqlstore"
)

// TableNames lists the tables of the database, SQLite's own excluded.
func (dialect) TableNames() string {
	return `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
}

// DescribeTable introspects one table; a missing table has no columns.
func (dialect) DescribeTable(ctx context.Context, q sqlstore.Querier, name string) (*hypha.TableDescription, error) {
	return describeTable(ctx, q, name)
}

func describeTable(ctx context.Context, q sqlstore.Querier, name string) (*hypha.TableDescription, error) {
	t := &hypha.TableDescription{Name: name}
	rows, err := q.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid`, name)
	if err != nil {
		return nil, err
	}
	type pkCol struct {
		name string
		pos  int
	}
	var pks []pkCol
	for rows.Next() {
		var c hypha.ColumnDescription
		var typ string
		var notnull, pk int
		var def *string
		if err := rows.Scan(&c.Name, &typ, &notnull, &def, &pk); err != nil {
			rows.Close()
			return nil, err
		}
		c.Type = normalizeType(typ)
		c.NotNull = notnull != 0 || pk > 0
		if def != nil {
			c.Default = normalizeDefault(*def)
		}
		if pk > 0 {
			pks = append(pks, pkCol{c.Name, pk})
		}
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(pks, func(i, j int) bool { return pks[i].pos < pks[j].pos })
	for _, p := range pks {
		t.PrimaryKey = append(t.PrimaryKey, p.name)
	}
	if len(t.PrimaryKey) > 0 {
		t.Keys = append(t.Keys, "primary key ("+strings.Join(t.PrimaryKey, ", ")+")")
	}
	irows, err := q.QueryContext(ctx, `SELECT name, "unique", origin FROM pragma_index_list(?)`, name)
	if err != nil {
		return nil, err
	}
	type index struct {
		name, origin string
		unique       bool
	}
	var idx []index
	for irows.Next() {
		var i index
		var u int
		if err := irows.Scan(&i.name, &u, &i.origin); err != nil {
			irows.Close()
			return nil, err
		}
		i.unique = u != 0
		idx = append(idx, i)
	}
	irows.Close()
	for _, i := range idx {
		if i.origin == "pk" {
			continue
		}
		cols, err := indexColumns(ctx, q, i.name)
		if err != nil {
			return nil, err
		}
		switch {
		case i.origin == "u":
			t.Keys = append(t.Keys, "unique ("+cols+")")
		case i.unique:
			t.Keys = append(t.Keys, "unique index "+i.name+" ("+cols+")")
		default:
			t.Keys = append(t.Keys, "index "+i.name+" ("+cols+")")
		}
	}
	return t, nil
}

func indexColumns(ctx context.Context, q sqlstore.Querier, index string) (string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, index)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c *string
		if err := rows.Scan(&c); err != nil {
			return "", err
		}
		if c == nil {
			cols = append(cols, "<expr>")
		} else {
			cols = append(cols, *c)
		}
	}
	return strings.Join(cols, ", "), rows.Err()
}

// normalizeType maps a declared SQLite type to a portable column type,
// following SQLite's affinity rules.
func normalizeType(t string) hypha.ColumnType {
	u := strings.ToUpper(t)
	switch {
	case strings.Contains(u, "INT"):
		return hypha.TypeInteger
	case strings.Contains(u, "CHAR"), strings.Contains(u, "CLOB"), strings.Contains(u, "TEXT"):
		return hypha.TypeText
	case strings.Contains(u, "REAL"), strings.Contains(u, "FLOA"), strings.Contains(u, "DOUB"):
		return hypha.TypeReal
	case u == "", strings.Contains(u, "BLOB"):
		return hypha.TypeBlob
	}
	return hypha.ColumnType(strings.ToLower(t))
}

func normalizeDefault(d string) string {
	d = strings.TrimSpace(d)
	for strings.HasPrefix(d, "(") && strings.HasSuffix(d, ")") {
		d = strings.TrimSpace(d[1 : len(d)-1])
	}
	return d
}
