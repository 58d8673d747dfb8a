package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/webchat"
)

// keepFinished is how many finished conversations are remembered for
// measuring what an idle session keeps in Redis.
const keepFinished = 32

// errStop ends a shopper: the run is over.
var errStop = errors.New("load over")

// load is one run of simulated shoppers against a server's chat socket.
type load struct {
	crowd
	socket   string // ws:// URL of /chat/socket
	dialer   *websocket.Dialer
	sessions atomic.Int64 // conversations opened
	finished []string     // conversation keys of finished conversations, under mu
}

func newLoad(cfg *config, target string) *load {
	socket := "ws" + strings.TrimPrefix(target, "http") + "/chat/socket"
	return &load{
		crowd:  crowd{cfg: cfg},
		socket: socket,
		dialer: &websocket.Dialer{HandshakeTimeout: cfg.turnTimeout, ReadBufferSize: 4096, WriteBufferSize: 1024},
	}
}

// result is what a run measured.
type result struct {
	measured
	sessions int64
	finished []string
	before   snapshot // counters at the start and end of the window
	after    snapshot
	// socketsLeft counts the server's goroutines still serving a chat
	// socket once every shopper has closed its own (-1 when unknown).
	socketsLeft int
}

// run runs the shoppers through the warm-up and the measured window, takes
// the probes' snapshots at its edges, and waits for the shoppers to finish
// their last turns.
func (l *load) run(ctx context.Context, p *probes) (*result, error) {
	res := &result{}
	m, err := l.drive(ctx, l.shopper,
		func(ctx context.Context) (err error) { res.before, err = p.snap(ctx); return err },
		func(ctx context.Context) (err error) { res.after, err = p.snap(ctx); return err })
	if err != nil {
		return nil, err
	}
	res.measured, res.sessions = m, l.sessions.Load()
	res.socketsLeft = p.chatGoroutinesLeft(ctx)
	l.mu.Lock()
	res.finished = l.finished
	l.mu.Unlock()
	return res, nil
}

// shopper holds one conversation after another, each of turnsPerConv
// turns from its script, until the run is over, and returns its samples.
func (l *load) shopper(ctx context.Context, i int) []sample {
	sc := scripts[i%len(scripts)]
	pace := newPacer(l.cfg)
	var out []sample
	// The first conversation is cut short at random, so that the shoppers'
	// sessions end and start at different times: otherwise all of them
	// would open new sockets together every turnsPerConv turns, a burst no
	// real crowd makes.
	turns := 1 + rand.IntN(l.cfg.turnsPerConv)
	for ctx.Err() == nil {
		err := l.conversation(ctx, sc, pace, turns, &out)
		turns = l.cfg.turnsPerConv
		if errors.Is(err, errStop) {
			return out
		}
		if err != nil {
			if ctx.Err() != nil {
				return out
			}
			kind := "other"
			var le *loadError
			if errors.As(err, &le) {
				kind = le.kind
			}
			l.fail(kind, err)
			// Do not spin on a server that refuses everything.
			t := time.NewTimer(20 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	return out
}

// loadError is a failed turn or conversation, by kind.
type loadError struct {
	kind string
	err  error
}

func (e *loadError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// conversation opens a session and asks up to turns lines of sc,
// appending a sample per completed turn.
func (l *load) conversation(ctx context.Context, sc script, pace *pacer, turns int, out *[]sample) error {
	if !l.take() {
		return errStop
	}
	c, err := l.open(ctx, sc.locale)
	if err != nil {
		return err
	}
	defer c.ws.Close()
	frames := c.frames() // closing the socket ends its reader
	l.sessions.Add(1)

	prev, prevAt := "", -1 // the previous turn's message id and sample
	var prevStart time.Time
	for turn := range turns {
		if turn > 0 && !l.take() {
			return errStop
		}
		start, ok := pace.wait(ctx, l.end)
		if !ok {
			return errStop
		}
		id := strconv.Itoa(turn + 1)
		if err := c.send(webchat.ClientFrame{Type: "message", ClientMsgID: id, Text: sc.lines[turn%len(sc.lines)]}); err != nil {
			return &loadError{"send", err}
		}
		c.ws.SetReadDeadline(start.Add(l.cfg.turnTimeout))
		acked, answered := false, false
		for !acked || !answered {
			sf, ok := <-frames
			if !ok || sf.err != nil {
				return readError(cmp.Or(sf.err, io.ErrUnexpectedEOF))
			}
			f := &sf.f
			switch f.Type {
			case "entry":
				if f.Entry.From != bot.FromBot {
					break
				}
				switch f.Entry.MessageID {
				case id:
					answered = true
				case prev:
					// A later reply to the previous turn: its last entry
					// came when the reader took it off the socket.
					if prevAt >= 0 {
						(*out)[prevAt].lat = max((*out)[prevAt].lat, sf.at.Sub(prevStart))
					}
				}
			case "ack":
				acked = acked || f.ClientMsgID == id
			case "error":
				return &loadError{"server:" + f.Code, fmt.Errorf("error frame %q for message %s", f.Code, f.ClientMsgID)}
			}
		}
		now := time.Now()
		*out = append(*out, sample{done: now, lat: now.Sub(start)})
		prev, prevAt, prevStart = id, len(*out)-1, start
	}
	if turns < l.cfg.turnsPerConv {
		return nil // not a whole conversation: not one to measure idle
	}
	l.mu.Lock()
	if len(l.finished) < keepFinished {
		l.finished = append(l.finished, c.key)
	}
	l.mu.Unlock()
	return nil
}

func readError(err error) error {
	var le *loadError
	if errors.As(err, &le) {
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &loadError{"timeout", errors.New("no complete answer within -turn-timeout")}
	}
	return &loadError{"closed", err}
}

// frame is the part of a webchat.ServerFrame the shoppers look at.
type frame struct {
	Type        string  `json:"type"`
	Frames      []frame `json:"frames"` // of a batch
	Token       string  `json:"token"`
	ClientMsgID string  `json:"client_msg_id"`
	Code        string  `json:"code"`
	Entry       struct {
		From      string `json:"from"`
		MessageID string `json:"message_id"`
	} `json:"entry"`
}

// chatConn is one shopper's socket.
type chatConn struct {
	ws  *websocket.Conn
	key string // the conversation key, from the session token
	buf bytes.Buffer
	f   frame
}

// open dials the socket, says hello as a new visitor and reads the
// welcome with the session token.
func (l *load) open(ctx context.Context, locale string) (*chatConn, error) {
	ws, resp, err := l.dialer.DialContext(ctx, l.socket, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, &loadError{"dial", err}
	}
	c := &chatConn{ws: ws}
	if err := c.send(webchat.ClientFrame{Type: "hello", Locale: locale}); err != nil {
		ws.Close()
		return nil, &loadError{"send", err}
	}
	ws.SetReadDeadline(time.Now().Add(l.cfg.turnTimeout))
	f, err := c.read()
	if err != nil {
		ws.Close()
		return nil, readError(err)
	}
	id, err := sessionID(f.Token)
	if f.Type != "welcome" || err != nil {
		ws.Close()
		return nil, &loadError{"hello", fmt.Errorf("hello answered with a %q frame without a valid token", f.Type)}
	}
	c.key = webchat.Key(id)
	return c, nil
}

func (c *chatConn) send(f webchat.ClientFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// stampedFrame is a frame with the time it was read off the socket.
type stampedFrame struct {
	f   frame
	at  time.Time
	err error
}

// frames reads the socket in a goroutine of its own from now on, so that
// each frame is stamped when it arrives, not when the shopper gets round
// to it (a turn's later replies arrive while the shopper waits for its
// next turn). The channel closes after the first read error, which it
// carries; closing the socket ends the goroutine.
func (c *chatConn) frames() <-chan stampedFrame {
	ch := make(chan stampedFrame, 64)
	go func() {
		defer close(ch)
		for {
			f, err := c.read()
			at := time.Now()
			var fs []frame
			switch {
			case err != nil:
				fs = []frame{{}}
			case f.Type == "batch":
				fs = f.Frames
			default:
				fs = []frame{*f}
			}
			for _, f := range fs {
				select {
				case ch <- stampedFrame{f: f, at: at, err: err}:
				default:
					// The shopper stopped reading (its conversation ended);
					// drop frames until the socket is closed.
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// read returns the next frame; it is valid until the next read.
func (c *chatConn) read() (*frame, error) {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return nil, err
	}
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(r); err != nil {
		return nil, err
	}
	c.f = frame{}
	if err := json.Unmarshal(c.buf.Bytes(), &c.f); err != nil {
		return nil, &loadError{"protocol", fmt.Errorf("server frame is not JSON: %w", err)}
	}
	return &c.f, nil
}

// sessionID reads the session id out of a web-chat session token
// ("v1." or "v2." payload "." signature, base64url; the payload starts with the 16-byte id
// and the expiry) without checking the signature, which only the server
// can.
func sessionID(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || (parts[0] != "v1" && parts[0] != "v2") {
		return "", errors.New("not a web-chat session token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || len(payload) < 16 {
		return "", errors.New("session token payload is not a session id")
	}
	return hex.EncodeToString(payload[:16]), nil
}
