package contacts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"herald/internal/errs"
)

// FieldType is the type of a custom field's values.
type FieldType string

// Custom field types.
const (
	FieldText   FieldType = "text"
	FieldNumber FieldType = "number"
	FieldDate   FieldType = "date"
	FieldBool   FieldType = "bool"
)

// CustomField types a custom attribute so that segments can compare it and
// imports can check it.
type CustomField struct {
	ID        int64     `gorm:"primaryKey" json:"id"`
	Name      string    `gorm:"size:64;not null;uniqueIndex" json:"name"`
	Type      FieldType `gorm:"size:16;not null" json:"type"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateField defines a custom field.
func (s *Store) CreateField(ctx context.Context, name string, typ FieldType) (CustomField, error) {
	if !ValidAttrName(name) {
		return CustomField{}, errs.Invalid("name", "custom field names are letters, digits and _ starting with a letter, up to 64 characters")
	}
	switch typ {
	case FieldText, FieldNumber, FieldDate, FieldBool:
	default:
		return CustomField{}, errs.Invalid("type", "%q is not one of text, number, date, bool", typ)
	}
	f := CustomField{Name: name, Type: typ}
	err := s.db.WithContext(ctx).Create(&f).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return CustomField{}, errs.Conflict("custom field %s already exists", name)
	}
	if err != nil {
		return CustomField{}, fmt.Errorf("contacts: create custom field: %w", err)
	}
	return f, nil
}

// Fields returns the custom field definitions by name.
func (s *Store) Fields(ctx context.Context) (map[string]CustomField, error) {
	var fs []CustomField
	if err := s.db.WithContext(ctx).Order("name").Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("contacts: list custom fields: %w", err)
	}
	m := make(map[string]CustomField, len(fs))
	for _, f := range fs {
		m[f.Name] = f
	}
	return m, nil
}

// ListFields returns the custom field definitions in name order.
func (s *Store) ListFields(ctx context.Context) ([]CustomField, error) {
	var fs []CustomField
	if err := s.db.WithContext(ctx).Order("name").Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("contacts: list custom fields: %w", err)
	}
	return fs, nil
}

// FieldUsers is what reads custom fields by name, such as segment
// definitions (attr.NAME): without its field such a reader can no longer
// be compiled.
type FieldUsers interface {
	// UsingField describes each user of the field, such as
	// `segment 3 "VIPs"`; none when nothing uses it.
	UsingField(ctx context.Context, name string) ([]string, error)
}

// maxUsersNamed is how many users of a field a refused delete names.
const maxUsersNamed = 10

// DeleteField removes a definition; the values stay on the contacts. A
// field that one of users still uses is not deleted: the error, an
// errs.ErrConflict, names what uses it. Callers pass every FieldUsers
// there is; the check and the delete are not atomic, so a segment saved
// in between can still lose its field (segments skip such a segment when
// refreshing and report it).
func (s *Store) DeleteField(ctx context.Context, id int64, users ...FieldUsers) error {
	var f CustomField
	err := s.db.WithContext(ctx).Take(&f, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return errs.NotFound("custom field", id)
	}
	if err != nil {
		return fmt.Errorf("contacts: delete custom field %d: %w", id, err)
	}
	var using []string
	for _, u := range users {
		names, err := u.UsingField(ctx, f.Name)
		if err != nil {
			return fmt.Errorf("contacts: delete custom field %s: %w", f.Name, err)
		}
		using = append(using, names...)
	}
	if len(using) > 0 {
		list := strings.Join(using[:min(len(using), maxUsersNamed)], ", ")
		if len(using) > maxUsersNamed {
			list += fmt.Sprintf(" and %d more", len(using)-maxUsersNamed)
		}
		return errs.Conflict("custom field %s is used by %s: change or delete them first", f.Name, list)
	}
	res := s.db.WithContext(ctx).Delete(&CustomField{}, id)
	if res.Error != nil {
		return fmt.Errorf("contacts: delete custom field %s: %w", f.Name, res.Error)
	}
	if res.RowsAffected == 0 {
		return errs.NotFound("custom field", id)
	}
	return nil
}
