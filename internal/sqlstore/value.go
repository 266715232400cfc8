package sqlstore

import (
	"bytes"
	"strconv"
	"time"

	"github.com/hyphateam/hypha"
)

// portable converts a value read from either driver into the portable Go
// type of its column: nil, int64, float64, string or []byte.
func portable(t hypha.ColumnType, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		switch t {
		case hypha.TypeBlob:
			// Clone keeps an empty blob empty: append([]byte(nil)) would
			// turn it into nil, which is NULL.
			return bytes.Clone(x)
		case hypha.TypeText:
			return string(x)
		}
		return portable(t, string(x))
	case string:
		switch t {
		case hypha.TypeInteger:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n
			}
		case hypha.TypeReal:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f
			}
		case hypha.TypeBlob:
			return []byte(x)
		}
		return x
	case int64:
		switch t {
		case hypha.TypeReal:
			return float64(x)
		case hypha.TypeText:
			return strconv.FormatInt(x, 10)
		}
		return x
	case int32:
		return portable(t, int64(x))
	case int:
		return portable(t, int64(x))
	case float64:
		switch t {
		case hypha.TypeInteger:
			if x == float64(int64(x)) {
				return int64(x)
			}
		case hypha.TypeText:
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	case float32:
		return portable(t, float64(x))
	case bool:
		if x {
			return portable(t, int64(1))
		}
		return portable(t, int64(0))
	case time.Time:
		return portable(t, x.Unix())
	}
	return v
}
