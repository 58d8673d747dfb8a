package sqldialogs

import (
	"context"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// listenRetry is the pause before listening again after the connection
// was lost.
const listenRetry = time.Second

// startListener starts, once, the goroutine that listens for other
// replicas' commits on Postgres.
func (s *Store) startListener() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listening || s.closed {
		return
	}
	s.listening = true
	ctx, cancel := context.WithCancel(context.Background())
	s.stopListen, s.listenDone = cancel, make(chan struct{})
	go s.listen(ctx, s.listenDone)
}

// listen keeps one connection listening on notifyChannel until ctx ends,
// reconnecting after failures.
func (s *Store) listen(ctx context.Context, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		_ = s.listenOnce(ctx) // the database is away: try again
		select {
		case <-ctx.Done():
		case <-time.After(listenRetry):
		}
	}
}

var errNotPgx = errors.New("sqldialogs: listen: not a pgx connection")

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := s.db.W.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errNotPgx
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
			return driver.ErrBadConn
		}
		select {
		case <-s.ready:
			// Listening again after a lost connection: commits may have
			// been missed meanwhile.
			s.hub.signalAll()
		default:
			close(s.ready)
		}
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return driver.ErrBadConn // the connection is not reusable
			}
			if n.Payload == "" {
				s.hub.signalAll()
			} else {
				row, seq := parsePayload(n.Payload)
				s.hub.signal(row, seq)
			}
		}
	})
}

// notifyPayload returns the NOTIFY payload of a commit to the conversation
// whose rows are keyed by row, with entries up to seq: "seq row", or empty
// ("any conversation") when row is too long for a payload.
func notifyPayload(row string, seq int64) string {
	if len(row) > maxNotifyKey {
		return ""
	}
	return strconv.FormatInt(seq, 10) + " " + row
}

// parsePayload reads a non-empty NOTIFY payload made by notifyPayload. A
// payload without a leading Seq — sent by a replica from before the Seq
// was added — is a row key whose Seq is unknown (0).
func parsePayload(p string) (row string, seq int64) {
	num, rest, ok := strings.Cut(p, " ")
	if !ok || num == "" || rest == "" {
		return p, 0
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return p, 0
	}
	return rest, n
}
