package db

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// JSONMap is a JSON object column: jsonb on PostgreSQL (so rules can read
// keys with ->>), text holding JSON on SQLite (read with json_extract).
type JSONMap map[string]any

// Value writes the map as JSON text; pgx casts text to jsonb.
func (m JSONMap) Value() (driver.Value, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(m))
	if err != nil {
		return nil, fmt.Errorf("db: encode JSON: %w", err)
	}
	return string(b), nil
}

// Scan reads JSON text or bytes.
func (m *JSONMap) Scan(v any) error {
	b, err := jsonBytes(v)
	if err != nil || len(b) == 0 {
		*m = JSONMap{}
		return err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("db: decode JSON object: %w", err)
	}
	*m = out
	return nil
}

// GormDBDataType picks the column type per engine.
func (JSONMap) GormDBDataType(g *gorm.DB, _ *schema.Field) string { return jsonType(g) }

// JSONRaw is a JSON document column kept as its exact text (segment
// definitions are returned to the user as they were stored).
type JSONRaw json.RawMessage

// Value writes the raw JSON text.
func (r JSONRaw) Value() (driver.Value, error) {
	if len(r) == 0 {
		return "null", nil
	}
	return string(r), nil
}

// Scan reads JSON text or bytes.
func (r *JSONRaw) Scan(v any) error {
	b, err := jsonBytes(v)
	if err != nil {
		return err
	}
	*r = append((*r)[:0], b...)
	return nil
}

// MarshalJSON embeds the document as is.
func (r JSONRaw) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON keeps the document as is.
func (r *JSONRaw) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// GormDBDataType picks the column type per engine.
func (JSONRaw) GormDBDataType(g *gorm.DB, _ *schema.Field) string { return jsonType(g) }

// IDs is a list of row ids stored as a JSON array (a campaign's segments).
type IDs []int64

// Value writes the ids as a JSON array.
func (ids IDs) Value() (driver.Value, error) {
	if ids == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]int64(ids))
	if err != nil {
		return nil, fmt.Errorf("db: encode ids: %w", err)
	}
	return string(b), nil
}

// Scan reads a JSON array of ids.
func (ids *IDs) Scan(v any) error {
	b, err := jsonBytes(v)
	if err != nil || len(b) == 0 {
		*ids = IDs{}
		return err
	}
	var out []int64
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("db: decode ids: %w", err)
	}
	*ids = out
	return nil
}

// GormDBDataType picks the column type per engine.
func (IDs) GormDBDataType(g *gorm.DB, _ *schema.Field) string { return jsonType(g) }

func jsonType(g *gorm.DB) string {
	if g.Dialector.Name() == Postgres {
		return "jsonb"
	}
	return "text"
}

func jsonBytes(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	default:
		return nil, fmt.Errorf("db: cannot scan %T as JSON", v)
	}
}

// ScanTime reads a time that an aggregate (MIN, MAX) returned: a time on
// PostgreSQL, text on SQLite, where aggregates lose the column's type.
func ScanTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		return parseSQLiteTime(x)
	case []byte:
		return parseSQLiteTime(string(x))
	case nil:
		return time.Time{}, nil
	}
	return time.Time{}, fmt.Errorf("db: cannot read %T as a time", v)
}

func parseSQLiteTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("db: cannot parse time %q", s)
}
