package sqlconsent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// LinkCodes keeps the pending link codes (consent.LinkCodeStore) in the
// main database. It stores a MAC of each code, never the code, with its
// person and expiry; a code is used once. Codes that expired over a day
// ago are swept away as new ones are made.
type LinkCodes struct {
	db  *sqldb.DB
	now func() time.Time
}

var _ consent.LinkCodeStore = (*LinkCodes)(nil)

// linkCodesKept is how long a code is kept after it expires, so that a
// late tap is told the code expired rather than that it is unknown.
const linkCodesKept = 24 * time.Hour

// NewLinkCodes returns the link code store on db, first applying the
// consent migrations. now decides expiry (time.Now when nil). The caller
// keeps ownership of db and closes it.
func NewLinkCodes(db *sqldb.DB, now func() time.Time) (*LinkCodes, error) {
	if err := db.Migrate(context.Background(), migrationsFS(), "consent"); err != nil {
		return nil, wrap("migrate", err)
	}
	if now == nil {
		now = time.Now
	}
	return &LinkCodes{db: db, now: now}, nil
}

// PutLinkCode stores the code id for person until expires, and sweeps the
// codes that expired over a day ago.
func (s *LinkCodes) PutLinkCode(ctx context.Context, id, person string, expires time.Time) error {
	if id == "" || person == "" {
		return fmt.Errorf("sqlconsent: put link code: no id or no person: %w", consent.ErrInvalid)
	}
	now := s.now()
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM consent_link_codes WHERE expires < $1`,
			sqldb.Micros(now.Add(-linkCodesKept))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO consent_link_codes (id, person, expires, used) VALUES ($1, $2, $3, 0)`,
			id, person, sqldb.Micros(expires))
		return err
	})
	return wrap("put link code", err)
}

// TakeLinkCode uses the code id up and returns its person:
// consent.ErrNotFound for an unknown id, consent.ErrGone (with the
// person) for a code used or expired.
func (s *LinkCodes) TakeLinkCode(ctx context.Context, id string) (string, error) {
	now := sqldb.Micros(s.now())
	var person string
	err := s.db.W.QueryRowContext(ctx, `UPDATE consent_link_codes SET used = $2
		WHERE id = $1 AND used = 0 AND expires > $2 RETURNING person`, id, now).Scan(&person)
	if err == nil {
		return person, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", wrap("take link code", err)
	}
	var used, expires int64
	err = s.db.W.QueryRowContext(ctx, `SELECT person, used, expires FROM consent_link_codes WHERE id = $1`, id).
		Scan(&person, &used, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("sqlconsent: take link code: %w", consent.ErrNotFound)
	case err != nil:
		return "", wrap("take link code", err)
	case used != 0:
		return person, fmt.Errorf("sqlconsent: take link code: used: %w", consent.ErrGone)
	}
	return person, fmt.Errorf("sqlconsent: take link code: expired: %w", consent.ErrGone)
}

// DeleteLinkCodes deletes person's codes and reports how many.
func (s *LinkCodes) DeleteLinkCodes(ctx context.Context, person string) (int, error) {
	res, err := s.db.W.ExecContext(ctx, `DELETE FROM consent_link_codes WHERE person = $1`, person)
	if err != nil {
		return 0, wrap("delete link codes", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete link codes", err)
}
