package sqlconsent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// Audit is the access audit (consent.Audit) on Postgres or SQLite, in the
// main database next to the ledger. Like the ledger's events, its rows
// have no update or delete path: triggers refuse UPDATE, DELETE (and on
// Postgres TRUNCATE) from anyone.
type Audit struct {
	db  *sqldb.DB
	now func() time.Time
}

var _ consent.Audit = (*Audit)(nil)

// NewAudit returns the access audit on db, first applying the consent
// migrations. now stamps accesses recorded without a time (time.Now when
// nil). The caller keeps ownership of db and closes it.
func NewAudit(db *sqldb.DB, now func() time.Time) (*Audit, error) {
	if err := db.Migrate(context.Background(), migrationsFS(), "consent"); err != nil {
		return nil, wrap("migrate", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Audit{db: db, now: now}, nil
}

// Record checks a (consent.Access.Check), stamps it with now when its
// time is zero, and appends it.
func (s *Audit) Record(ctx context.Context, a consent.Access) (consent.Access, error) {
	if err := a.Check(); err != nil {
		return consent.Access{}, fmt.Errorf("sqlconsent: record access: %w", err)
	}
	if a.At.IsZero() {
		a.At = s.now()
	}
	a.At = a.At.UTC().Truncate(time.Microsecond)
	err := s.db.W.QueryRowContext(ctx, `INSERT INTO consent_access (actor, subject, what, why, at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, a.Actor, a.Subject, a.What, a.Why, sqldb.Micros(a.At)).Scan(&a.ID)
	if err != nil {
		return consent.Access{}, wrap("record access", err)
	}
	return a, nil
}

// List returns the accesses f selects, newest first.
func (s *Audit) List(ctx context.Context, f consent.AccessFilter) ([]consent.Access, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = consent.DefaultAccessLimit
	}
	limit = min(limit, consent.MaxAccessLimit)
	var (
		where []string
		args  []any
	)
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Subject != "" {
		arg("subject = $%d", f.Subject)
	}
	if f.Actor != "" {
		arg("actor = $%d", f.Actor)
	}
	if f.Before > 0 {
		arg("id < $%d", f.Before)
	}
	q := `SELECT id, actor, subject, what, why, at FROM consent_access`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := s.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("list accesses", err)
	}
	defer rows.Close()
	out := []consent.Access{}
	for rows.Next() {
		var (
			a  consent.Access
			at int64
		)
		if err := rows.Scan(&a.ID, &a.Actor, &a.Subject, &a.What, &a.Why, &at); err != nil {
			return nil, wrap("list accesses", err)
		}
		a.At = sqldb.Time(at)
		out = append(out, a)
	}
	return out, wrap("list accesses", rows.Err())
}
