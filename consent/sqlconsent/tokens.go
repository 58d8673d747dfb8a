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

// Tokens remembers the export links that were used
// (consent.TokenStore), in the main database.
type Tokens struct {
	db  *sqldb.DB
	now func() time.Time
}

var _ consent.TokenStore = (*Tokens)(nil)

// NewTokens returns the used-link store on db, first applying the consent
// migrations. now stamps uses (time.Now when nil). The caller keeps
// ownership of db and closes it.
func NewTokens(db *sqldb.DB, now func() time.Time) (*Tokens, error) {
	if err := db.Migrate(context.Background(), migrationsFS(), "consent"); err != nil {
		return nil, wrap("migrate", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{db: db, now: now}, nil
}

// UseToken marks id used and reports whether it was unused until now. It
// also forgets the links that expired over a day before now, which are
// refused by their expiry anyway.
func (s *Tokens) UseToken(ctx context.Context, id string, expires time.Time) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("sqlconsent: use token: empty id: %w", consent.ErrInvalid)
	}
	now := s.now()
	var first bool
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO consent_export_tokens (id, used, expires) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, id, sqldb.Micros(now), sqldb.Micros(expires))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		first = n == 1
		_, err = tx.ExecContext(ctx, `DELETE FROM consent_export_tokens WHERE expires < $1`, sqldb.Micros(now.Add(-24*time.Hour)))
		return err
	})
	if err != nil {
		return false, wrap("use token", err)
	}
	return first, nil
}

// TokenUsed reports whether id was used.
func (s *Tokens) TokenUsed(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.db.R.QueryRowContext(ctx, `SELECT 1 FROM consent_export_tokens WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, wrap("token used", err)
	}
	return true, nil
}
