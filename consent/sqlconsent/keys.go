package sqlconsent

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

//go:embed keymigrations
var keyMigrations embed.FS

// KeysFile is the embedded keys database's file name in the data folder,
// next to the main database (sqldb.SQLiteFile).
const KeysFile = "keys.db"

// KeyStore keeps the keyring's wrapped data keys, conversation links and
// linked identities (consent.KeyStore) on Postgres or SQLite.
//
// Crypto-shredding works only if a copy of the personal data never comes
// with the keys that open it. So the KeyStore has a migration set of its
// own and should get a database of its own: in embedded mode the file
// KeysFile next to the main database, in production a separate Postgres
// database. Back the keys database up apart from the main one, and keep
// its backups no longer than an erasure may take to be final; a backup of
// both together, with the server's secret, can read everything an erasure
// destroyed. On SQLite a deleted key is overwritten in the file
// (secure_delete) and the write-ahead log is checkpointed and truncated,
// so the live files keep no copy; on Postgres the deleted row stays in the
// table's dead tuples until VACUUM, and in WAL archives.
type KeyStore struct {
	db *sqldb.DB
}

var _ consent.KeyStore = (*KeyStore)(nil)

// NewKeyStore returns a KeyStore on db, first applying the keys
// migrations (their own set, "consent_keys"). The caller keeps ownership
// of db and closes it.
func NewKeyStore(db *sqldb.DB) (*KeyStore, error) {
	sub, err := fs.Sub(keyMigrations, "keymigrations")
	if err != nil {
		panic("sqlconsent: embedded key migrations: " + err.Error()) // a constant, valid path
	}
	if err := db.Migrate(context.Background(), sub, "consent_keys"); err != nil {
		return nil, wrap("migrate keys", err)
	}
	return &KeyStore{db: db}, nil
}

// Ping reports whether the keys database answers.
func (s *KeyStore) Ping(ctx context.Context) error {
	return wrap("ping keys", s.db.Ping(ctx))
}

// Key returns subject's wrapped key, or consent.ErrNotFound.
func (s *KeyStore) Key(ctx context.Context, subject string) (consent.WrappedKey, error) {
	k, err := readKey(ctx, s.db.R, subject)
	return k, wrap("key", err)
}

func readKey(ctx context.Context, q queryer, subject string) (consent.WrappedKey, error) {
	k := consent.WrappedKey{Subject: subject}
	var created int64
	err := q.QueryRowContext(ctx, `SELECT wrapped, created FROM consent_keys WHERE subject = $1`, subject).Scan(&k.Wrapped, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.WrappedKey{}, fmt.Errorf("sqlconsent: key: %w", consent.ErrNotFound)
	}
	if err != nil {
		return consent.WrappedKey{}, err
	}
	k.Created = sqldb.Time(created)
	return k, nil
}

// PutKey stores k unless its subject has a key, and returns the key
// stored. A new subject's key takes one statement (the insert returns what
// it stored); a subject that has one, a second to read it.
func (s *KeyStore) PutKey(ctx context.Context, k consent.WrappedKey) (consent.WrappedKey, error) {
	if k.Subject == "" || len(k.Wrapped) == 0 {
		return consent.WrappedKey{}, fmt.Errorf("sqlconsent: put key: no subject or no key: %w", consent.ErrInvalid)
	}
	var created int64
	err := s.db.W.QueryRowContext(ctx, `INSERT INTO consent_keys (subject, wrapped, created) VALUES ($1, $2, $3)
		ON CONFLICT (subject) DO NOTHING RETURNING created`, k.Subject, k.Wrapped, sqldb.Micros(k.Created)).Scan(&created)
	switch {
	case err == nil:
		k.Created = sqldb.Time(created)
		return k, nil
	case errors.Is(err, sql.ErrNoRows): // there was one
		out, err := readKey(ctx, s.db.W, k.Subject)
		return out, wrap("put key", err)
	}
	return consent.WrappedKey{}, wrap("put key", err)
}

// DeleteKey deletes subject's key and links, and the identities where
// subject is the alias or the person, and reports whether it had a key.
// On SQLite the deleted bytes are zeroed in the file and the write-ahead
// log is truncated.
func (s *KeyStore) DeleteKey(ctx context.Context, subject string) (bool, error) {
	var had, deleted bool
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if s.db.Dialect == sqldb.SQLite {
			if _, err := tx.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM consent_key_links WHERE subject = $1`, subject); err != nil {
			return err
		}
		ids, err := tx.ExecContext(ctx, `DELETE FROM consent_identities WHERE alias = $1 OR person = $1`, subject)
		if err != nil {
			return err
		}
		nids, err := ids.RowsAffected()
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM consent_keys WHERE subject = $1`, subject)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		had, deleted = n > 0, n+nids > 0
		return err
	})
	if err != nil {
		return false, wrap("delete key", err)
	}
	if (had || deleted) && s.db.Dialect == sqldb.SQLite {
		// Best effort: readers in the way leave the log to the next
		// checkpoint, which overwrites it.
		s.db.W.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	return had, nil
}

// PutLink stores l for subject unless it has a link with l.ID; it returns
// consent.ErrNotFound when subject has no key.
func (s *KeyStore) PutLink(ctx context.Context, subject string, l consent.ConversationLink) error {
	if l.ID == "" || len(l.Sealed) == 0 {
		return fmt.Errorf("sqlconsent: put link: no id or no conversation: %w", consent.ErrInvalid)
	}
	// One statement: the foreign key refuses a subject without a key.
	_, err := s.db.W.ExecContext(ctx, `INSERT INTO consent_key_links (subject, id, channel, sealed, created)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subject, id) DO NOTHING`,
		subject, l.ID, l.Channel, l.Sealed, sqldb.Micros(l.Created))
	if sqldb.IsForeignKeyViolation(err) {
		return fmt.Errorf("sqlconsent: put link: key: %w", consent.ErrNotFound)
	}
	return wrap("put link", err)
}

// Links returns subject's links, oldest first.
func (s *KeyStore) Links(ctx context.Context, subject string) ([]consent.ConversationLink, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, channel, sealed, created FROM consent_key_links
		WHERE subject = $1 ORDER BY created, id`, subject)
	if err != nil {
		return nil, wrap("links", err)
	}
	defer rows.Close()
	var links []consent.ConversationLink
	for rows.Next() {
		var (
			l       consent.ConversationLink
			created int64
		)
		if err := rows.Scan(&l.ID, &l.Channel, &l.Sealed, &created); err != nil {
			return nil, wrap("links", err)
		}
		l.Created = sqldb.Time(created)
		links = append(links, l)
	}
	return links, wrap("links", rows.Err())
}

// Subjects returns up to limit subjects with a key after the subject
// after, in subject order, with the channels of their links.
func (s *KeyStore) Subjects(ctx context.Context, after string, limit int) ([]consent.SubjectInfo, error) {
	if limit <= 0 {
		limit = consent.DefaultSubjectsLimit
	}
	var out []consent.SubjectInfo
	err := s.db.InReadTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT subject, created FROM consent_keys
			WHERE subject > $1 ORDER BY subject LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		at := make(map[string]int)
		for rows.Next() {
			var (
				si      consent.SubjectInfo
				created int64
			)
			if err := rows.Scan(&si.Subject, &created); err != nil {
				return err
			}
			si.Created, si.Channels = sqldb.Time(created), []string{}
			at[si.Subject] = len(out)
			out = append(out, si)
		}
		if err := rows.Err(); err != nil || len(out) == 0 {
			return err
		}
		rows.Close()
		chans, err := tx.QueryContext(ctx, `SELECT subject, channel FROM consent_key_links
			WHERE subject >= $1 AND subject <= $2 AND channel <> ''
			UNION SELECT person, channel FROM consent_identities WHERE person >= $1 AND person <= $2
			ORDER BY 1, 2`,
			out[0].Subject, out[len(out)-1].Subject)
		if err != nil {
			return err
		}
		defer chans.Close()
		for chans.Next() {
			var subject, channel string
			if err := chans.Scan(&subject, &channel); err != nil {
				return err
			}
			if i, ok := at[subject]; ok {
				out[i].Channels = append(out[i].Channels, channel)
			}
		}
		return chans.Err()
	})
	if err != nil {
		return nil, wrap("subjects", err)
	}
	return out, nil
}

// wrap adds context to err and classifies database errors as
// consent.ErrUnavailable. Errors already classified pass through unchanged.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, consent.ErrInvalid), errors.Is(err, consent.ErrNotFound),
		errors.Is(err, consent.ErrTampered), errors.Is(err, consent.ErrUnavailable):
		return err
	case sqldb.IsUnavailable(err):
		return fmt.Errorf("sqlconsent: %s: %w: %w", op, consent.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlconsent: %s: %w", op, err)
}

// PutIdentity stores id unless id.Alias is linked already, and returns
// the alias's identity as stored and whether this call stored it; it
// returns consent.ErrNotFound when id.Person has no key.
func (s *KeyStore) PutIdentity(ctx context.Context, id consent.Identity) (consent.Identity, bool, error) {
	if id.Alias == "" || id.Person == "" || id.Alias == id.Person {
		return consent.Identity{}, false, fmt.Errorf("sqlconsent: put identity: no alias, no person or the same: %w", consent.ErrInvalid)
	}
	var (
		out  consent.Identity
		made bool
	)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM consent_keys WHERE subject = $1`, id.Person).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("sqlconsent: put identity: person's key: %w", consent.ErrNotFound)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO consent_identities (alias, person, channel, created)
			VALUES ($1, $2, $3, $4) ON CONFLICT (alias) DO NOTHING`,
			id.Alias, id.Person, id.Channel, sqldb.Micros(id.Created))
		if err != nil {
			return err
		}
		rows, err := res.RowsAffected()
		if err != nil {
			return err
		}
		made = rows == 1
		out, err = readIdentity(ctx, tx, id.Alias)
		return err
	})
	if err != nil && !errors.Is(err, consent.ErrNotFound) && !sqldb.IsUnavailable(err) {
		// On Postgres a key deleted between the check and the insert fails
		// the foreign key.
		if _, kerr := s.Key(ctx, id.Person); errors.Is(kerr, consent.ErrNotFound) {
			return consent.Identity{}, false, fmt.Errorf("sqlconsent: put identity: person's key: %w", consent.ErrNotFound)
		}
	}
	if err != nil {
		return consent.Identity{}, false, wrap("put identity", err)
	}
	return out, made, nil
}

// Identity returns the identity of alias, or consent.ErrNotFound.
func (s *KeyStore) Identity(ctx context.Context, alias string) (consent.Identity, error) {
	id, err := readIdentity(ctx, s.db.R, alias)
	return id, wrap("identity", err)
}

func readIdentity(ctx context.Context, q queryer, alias string) (consent.Identity, error) {
	id := consent.Identity{Alias: alias}
	var created int64
	err := q.QueryRowContext(ctx, `SELECT person, channel, created FROM consent_identities WHERE alias = $1`, alias).
		Scan(&id.Person, &id.Channel, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Identity{}, fmt.Errorf("sqlconsent: identity: %w", consent.ErrNotFound)
	}
	if err != nil {
		return consent.Identity{}, err
	}
	id.Created = sqldb.Time(created)
	return id, nil
}

// Identities returns the identities linked to person, oldest first.
func (s *KeyStore) Identities(ctx context.Context, person string) ([]consent.Identity, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT alias, channel, created FROM consent_identities
		WHERE person = $1 ORDER BY created, alias`, person)
	if err != nil {
		return nil, wrap("identities", err)
	}
	defer rows.Close()
	var out []consent.Identity
	for rows.Next() {
		id := consent.Identity{Person: person}
		var created int64
		if err := rows.Scan(&id.Alias, &id.Channel, &created); err != nil {
			return nil, wrap("identities", err)
		}
		id.Created = sqldb.Time(created)
		out = append(out, id)
	}
	return out, wrap("identities", rows.Err())
}

// DeleteIdentity deletes the identity of alias if it links alias to
// person, and reports whether it did.
func (s *KeyStore) DeleteIdentity(ctx context.Context, alias, person string) (bool, error) {
	res, err := s.db.W.ExecContext(ctx, `DELETE FROM consent_identities WHERE alias = $1 AND person = $2`, alias, person)
	if err != nil {
		return false, wrap("delete identity", err)
	}
	n, err := res.RowsAffected()
	return n > 0, wrap("delete identity", err)
}
