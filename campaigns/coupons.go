package campaigns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"herald/internal/db"
	"herald/internal/errs"
	"herald/templates"
)

// Coupon is one code of an uploaded pool. Once given to a contact for a
// campaign it stays theirs: a retry or a preview of that send shows the
// same code, and no one else ever gets it.
type Coupon struct {
	ID         int64  `gorm:"primaryKey"`
	Pool       string `gorm:"size:64;not null;uniqueIndex:idx_coupons_pool_code,priority:1;uniqueIndex:idx_coupons_owner,priority:1"`
	Code       string `gorm:"size:200;not null;uniqueIndex:idx_coupons_pool_code,priority:2"`
	ContactID  *int64 `gorm:"uniqueIndex:idx_coupons_owner,priority:2"`
	CampaignID *int64 `gorm:"uniqueIndex:idx_coupons_owner,priority:3"`
	AssignedAt *time.Time
	CreatedAt  time.Time
}

// ErrPoolEmpty is returned when a pool has no unused code left. It is
// permanent for that message: test for it with errors.Is, through the
// *templates.Error and *templates.CouponError a render wraps it in.
var ErrPoolEmpty = errors.New("coupon pool is empty")

// MaxCodesPerUpload bounds one upload.
const MaxCodesPerUpload = 100000

// AddCoupons uploads codes into a pool (created on first use). Codes already
// in the pool are skipped and counted as duplicates.
func (s *Service) AddCoupons(ctx context.Context, pool string, codes []string) (added, duplicates int, err error) {
	if !templates.CouponPoolRe.MatchString(pool) {
		return 0, 0, errs.Invalid("pool", "pool names are letters, digits, '.', '_' and '-', up to 64 characters")
	}
	if len(codes) == 0 || len(codes) > MaxCodesPerUpload {
		return 0, 0, errs.Invalid("codes", "give 1 to %d codes", MaxCodesPerUpload)
	}
	seen := map[string]bool{}
	rows := make([]Coupon, 0, len(codes))
	now := s.cfg.Now()
	for i, c := range codes {
		c = strings.TrimSpace(c)
		if c == "" || len(c) > 200 || strings.ContainsAny(c, "\r\n\t<>\"'") {
			return 0, 0, errs.Invalid(fmt.Sprintf("codes[%d]", i), "a code is 1 to 200 characters without spaces, quotes or angle brackets")
		}
		if seen[c] {
			duplicates++
			continue
		}
		seen[c] = true
		rows = append(rows, Coupon{Pool: pool, Code: c, CreatedAt: now})
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for start := 0; start < len(rows); start += 100 {
			chunk := rows[start:min(start+100, len(rows))]
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&chunk)
			if res.Error != nil {
				return res.Error
			}
			added += int(res.RowsAffected)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("campaigns: add coupons: %w", err)
	}
	return added, duplicates + len(rows) - added, nil
}

// PoolStats counts a pool's codes.
type PoolStats struct {
	Pool      string `json:"pool"`
	Total     int64  `json:"total"`
	Assigned  int64  `json:"assigned"`
	Available int64  `json:"available"`
}

// CouponPools lists the pools with their counts.
func (s *Service) CouponPools(ctx context.Context) ([]PoolStats, error) {
	var out []PoolStats
	err := s.db.WithContext(ctx).Model(&Coupon{}).
		Select("pool, COUNT(*) AS total, COUNT(contact_id) AS assigned").
		Group("pool").Order("pool").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("campaigns: coupon pools: %w", err)
	}
	for i := range out {
		out[i].Available = out[i].Total - out[i].Assigned
	}
	return out, nil
}

// AssignCoupon returns the contact's code from pool for the campaign,
// taking an unused one the first time. The claim is one UPDATE of the first
// free row (skipping rows other senders hold locked on PostgreSQL; SQLite
// runs writers one at a time), so two senders never get the same code, and
// the unique owner index keeps one contact from getting two.
func (s *Service) AssignCoupon(ctx context.Context, pool string, contactID, campaignID int64) (string, error) {
	mine := func() (string, bool, error) {
		var c Coupon
		err := s.db.WithContext(ctx).Where("pool = ? AND contact_id = ? AND campaign_id = ?", pool, contactID, campaignID).Take(&c).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("campaigns: coupon: %w", err)
		}
		return c.Code, true, nil
	}
	if code, ok, err := mine(); err != nil || ok {
		return code, err
	}
	lock := ""
	if db.IsPostgres(s.db) {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var codes []string
	err := s.db.WithContext(ctx).Raw(`UPDATE coupons SET contact_id = ?, campaign_id = ?, assigned_at = ?
		WHERE id = (SELECT id FROM coupons WHERE pool = ? AND contact_id IS NULL ORDER BY id LIMIT 1`+lock+`)
		RETURNING code`, contactID, campaignID, s.cfg.Now(), pool).Scan(&codes).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// A concurrent call for the same contact won; use its code.
		if code, ok, err := mine(); err != nil || ok {
			return code, err
		}
	}
	if err != nil {
		return "", fmt.Errorf("campaigns: coupon: %w", err)
	}
	if len(codes) == 0 {
		return "", fmt.Errorf("campaigns: %w: %s", ErrPoolEmpty, pool)
	}
	return codes[0], nil
}
