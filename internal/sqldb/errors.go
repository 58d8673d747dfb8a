package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsUnavailable reports whether err says the database cannot be reached or
// has gone away (refused or reset connections, a failed connection attempt,
// a closed pool, a server shutting down, a SQLite file that cannot be opened
// or stays locked), as opposed to an error in the statement or the data.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		ce    *pgconn.ConnectError
		pgErr *pgconn.PgError
		opErr *net.OpError
		sqErr *sqlite.Error
	)
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, pgconn.ErrConnClosed),
		errors.As(err, &ce), errors.As(err, &opErr):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P01-57P03: the server is shutting
		// down or starting; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" ||
			pgErr.Code == "57P02" || pgErr.Code == "57P03" || pgErr.Code == "53300"
	case errors.As(err, &sqErr):
		switch sqErr.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY:
			return true
		}
		return false
	}
	// Errors that database/sql and pgxpool return as plain strings.
	msg := err.Error()
	return strings.Contains(msg, "sql: database is closed") || strings.Contains(msg, "closed pool")
}

// IsUniqueViolation reports whether err is a unique or primary key
// constraint violation, in either dialect.
func IsUniqueViolation(err error) bool {
	return isViolation(err, "23505", sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// IsForeignKeyViolation reports whether err is a foreign key constraint
// violation, in either dialect.
func IsForeignKeyViolation(err error) bool {
	return isViolation(err, "23503", sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY)
}

// isViolation reports whether err is Postgres's error pgCode or one of
// SQLite's extended result codes.
func isViolation(err error, pgCode string, sqliteCodes ...int) bool {
	var (
		pgErr *pgconn.PgError
		sqErr *sqlite.Error
	)
	switch {
	case errors.As(err, &pgErr):
		return pgErr.Code == pgCode
	case errors.As(err, &sqErr):
		return slices.Contains(sqliteCodes, sqErr.Code())
	}
	return false
}

// ConnectError is returned by Open and OpenPostgres when the server cannot
// be reached or refuses the connection. Its message is short, names the
// host and never holds the password.
type ConnectError struct {
	msg string
	err error
}

// Error returns the short description, starting "sqldb: ".
func (e *ConnectError) Error() string { return "sqldb: " + e.msg }

// Unwrap returns the driver's error.
func (e *ConnectError) Unwrap() error { return e.err }

func connectError(host string, port uint16, err error, passwords ...string) error {
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	var (
		pgErr  *pgconn.PgError
		dnsErr *net.DNSError
		opErr  *net.OpError
		msg    string
	)
	switch {
	case errors.As(err, &pgErr):
		msg = "postgres at " + addr + " refused the connection: " + pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "cannot reach " + addr + ": connection refused"
	case errors.As(err, &dnsErr):
		msg = "cannot resolve " + host + ": " + dnsErr.Err
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		msg = "cannot reach " + addr + ": timed out"
	case errors.Is(err, context.Canceled):
		msg = "connect to " + addr + ": canceled"
	case errors.As(err, &opErr):
		msg = "cannot reach " + addr + ": " + innermost(opErr).Error()
	default:
		msg = "cannot connect to " + addr + ": " + innermost(err).Error()
	}
	for _, pw := range passwords {
		msg = redact(msg, pw)
	}
	return &ConnectError{msg: msg, err: err}
}

func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// parseError describes a database URL that cannot be used, without
// repeating the URL.
func parseError(dsn string, err error) error {
	var (
		urlErr *url.Error
		pcErr  *pgconn.ParseConfigError
		detail string
	)
	switch {
	case errors.As(err, &urlErr):
		detail = urlErr.Err.Error()
	case errors.As(err, &pcErr):
		// "cannot parse `<connection string>`: <detail>"
		if _, after, ok := strings.Cut(pcErr.Error(), "`: "); ok {
			detail = after
		}
	}
	msg := "invalid database url"
	if detail != "" {
		msg += ": " + detail
	}
	return &ConnectError{msg: redact(msg, passwordOf(dsn)), err: err}
}

var kvPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// passwordOf finds the password in a URL or key=value connection string, as
// well as a string that may not parse can be read.
func passwordOf(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			rest = rest[:j]
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				return pw
			}
		}
		return ""
	}
	if m := kvPassword.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[1], "'")
	}
	return ""
}

// redact removes password, raw and URL-decoded, from msg.
func redact(msg, password string) string {
	if password == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, password, "xxxxx")
	if dec, err := url.PathUnescape(password); err == nil && dec != password && dec != "" {
		msg = strings.ReplaceAll(msg, dec, "xxxxx")
	}
	return msg
}
