package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot/telegram/telegramtest"
	"github.com/bottega-shop/bottega/consent"
)

// Helpers of TestForgetMeErasesEverything: a Telegram shopper driving the
// server through the fake Bot API, and a scanner that dumps every stored
// value of a SQL database or a Redis database and looks in it for a
// person's identifiers and words — in clear, hex-encoded, base64-encoded,
// inside JSON, and inside sealed data that the live keys can still open.

// tgShopper is a Telegram user writing to the bot in a private chat.
type tgShopper struct {
	t      *testing.T
	base   string
	api    *telegramtest.Server
	chatID int64
	first  string
	last   string
	user   string
	update int64 // the next update_id
}

func (s *tgShopper) from() map[string]any {
	return map[string]any{"id": s.chatID, "is_bot": false, "first_name": s.first, "last_name": s.last, "username": s.user, "language_code": "it"}
}

func (s *tgShopper) chat() map[string]any {
	return map[string]any{"id": s.chatID, "type": "private", "first_name": s.first, "last_name": s.last, "username": s.user}
}

// post posts an update as Telegram would and wants 200.
func (s *tgShopper) post(update map[string]any) {
	s.t.Helper()
	s.update++
	update["update_id"] = s.update
	b, err := json.Marshal(update)
	if err != nil {
		s.t.Fatal(err)
	}
	if st, _ := postTelegram(s.t, s.base, testWebhookSecret, b); st != http.StatusOK {
		s.t.Fatalf("update %d of chat %d = %d, want 200", s.update, s.chatID, st)
	}
}

// say sends text and returns the bot's answer once it has arrived at the
// fake and nothing more came for a while.
func (s *tgShopper) say(text string) []tgSent {
	s.t.Helper()
	n := len(tgSentTo(s.api, s.chatID))
	s.post(map[string]any{"message": map[string]any{
		"message_id": s.update, "from": s.from(), "chat": s.chat(), "date": time.Now().Unix(), "text": text,
	}})
	return s.answer(n)
}

// press presses the inline button whose callback data is data, which the
// bot must have sent to this chat, and returns the bot's answer.
func (s *tgShopper) press(data string) []tgSent {
	s.t.Helper()
	sent := tgSentTo(s.api, s.chatID)
	if !slices.ContainsFunc(sent, func(m tgSent) bool { return slices.Contains(m.Buttons, data) }) {
		s.t.Fatalf("chat %d has no button %q to press; the bot sent %q", s.chatID, data, sent)
	}
	s.post(map[string]any{"callback_query": map[string]any{
		"id": "cb" + strconv.FormatInt(s.update, 10), "from": s.from(), "chat_instance": "ci" + strconv.FormatInt(s.chatID, 10),
		"message": map[string]any{"message_id": s.update, "from": map[string]any{"id": 7, "is_bot": true, "first_name": "Bottega"},
			"chat": s.chat(), "date": time.Now().Unix(), "text": "…"},
		"data": data,
	}})
	return s.answer(len(sent))
}

// answer waits for the messages the fake receives for this chat after the
// first n, until none has come for longer than the outbound queue's pause
// between two messages to one chat.
func (s *tgShopper) answer(n int) []tgSent {
	s.t.Helper()
	const quiet = 1500 * time.Millisecond
	deadline := time.Now().Add(30 * time.Second)
	last, since := -1, time.Now()
	for {
		sent := tgSentTo(s.api, s.chatID)
		if len(sent) != last {
			last, since = len(sent), time.Now()
		}
		if len(sent) > n && time.Since(since) >= quiet {
			return sent[n:]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("chat %d: no answer within 30s after %d messages; sent %q", s.chatID, n, sent)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tgSent is a message the fake accepted: its text and its inline buttons'
// callback data.
type tgSent struct {
	Text    string
	Buttons []string
}

func (m tgSent) String() string {
	if len(m.Buttons) == 0 {
		return m.Text
	}
	return m.Text + " " + fmt.Sprint(m.Buttons)
}

// tgSentTo returns the messages the fake accepted for chatID, in order.
func tgSentTo(api *telegramtest.Server, chatID int64) []tgSent {
	var out []tgSent
	id := strconv.FormatInt(chatID, 10)
	for _, c := range api.Calls() {
		if (c.Method != "sendMessage" && c.Method != "sendPhoto") || c.Params["chat_id"] != id || c.Code != 0 {
			continue
		}
		m := tgSent{Text: c.Params["text"] + c.Params["caption"]}
		var kb struct {
			InlineKeyboard [][]struct {
				CallbackData string `json:"callback_data"`
			} `json:"inline_keyboard"`
		}
		if json.Unmarshal([]byte(c.Params["reply_markup"]), &kb) == nil {
			for _, row := range kb.InlineKeyboard {
				for _, b := range row {
					if b.CallbackData != "" {
						m.Buttons = append(m.Buttons, b.CallbackData)
					}
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// buttonWith returns the first callback data in sent that starts with
// prefix, or "".
func buttonWith(sent []tgSent, prefix string) string {
	for _, m := range sent {
		for _, b := range m.Buttons {
			if strings.HasPrefix(b, prefix) {
				return b
			}
		}
	}
	return ""
}

// A stored is one value as a store holds it, and where.
type stored struct {
	where string // "table dialog_entries, row 3, column sealed"
	raw   []byte
}

// dumpSQL reads every row of every table of db: on SQLite the tables of
// sqlite_master, on Postgres the base tables of the current schema. Each
// value is kept as its bytes (text and blobs as they are, other types
// printed).
func dumpSQL(ctx context.Context, db *sql.DB, postgres bool, label string) ([]stored, error) {
	list := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if postgres {
		list = `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	rows, err := db.QueryContext(ctx, list)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", label, err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list the tables of %s: %w", label, err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", label, err)
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("%s has no tables", label)
	}
	var out []stored
	for _, table := range tables {
		got, err := dumpTable(ctx, db, label, table)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func dumpTable(ctx context.Context, db *sql.DB, label, table string) ([]stored, error) {
	rows, err := db.QueryContext(ctx, `SELECT * FROM "`+strings.ReplaceAll(table, `"`, `""`)+`"`)
	if err != nil {
		return nil, fmt.Errorf("read %s table %s: %w", label, table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("read %s table %s: %w", label, table, err)
	}
	var out []stored
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for n := 1; rows.Next(); n++ {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read %s table %s: %w", label, table, err)
		}
		for i, v := range vals {
			var raw []byte
			switch v := v.(type) {
			case nil:
				continue
			case []byte:
				raw = bytes.Clone(v)
			case string:
				raw = []byte(v)
			case time.Time:
				raw = []byte(v.Format(time.RFC3339Nano))
			default:
				raw = fmt.Append(nil, v)
			}
			out = append(out, stored{where: fmt.Sprintf("%s table %s, row %d, column %s", label, table, n, cols[i]), raw: raw})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s table %s: %w", label, table, err)
	}
	return out, nil
}

// dumpRedis reads every key of rdb's database: its name and, by type,
// its value, fields, members, scores or stream entries.
func dumpRedis(ctx context.Context, rdb *redis.Client) ([]stored, error) {
	var out []stored
	add := func(where, v string) { out = append(out, stored{where: where, raw: []byte(v)}) }
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("scan redis: %w", err)
	}
	slices.Sort(keys)
	for _, key := range slices.Compact(keys) {
		at := "redis key " + strconv.Quote(key)
		typ, err := rdb.Type(ctx, key).Result()
		if err != nil {
			return nil, fmt.Errorf("redis type of %s: %w", at, err)
		}
		add(at+" (its name)", key)
		switch typ {
		case "none": // expired meanwhile
		case "string":
			v, err := rdb.Get(ctx, key).Result()
			if err != nil && err != redis.Nil {
				return nil, fmt.Errorf("redis get %s: %w", at, err)
			}
			add(at, v)
		case "hash":
			m, err := rdb.HGetAll(ctx, key).Result()
			if err != nil {
				return nil, fmt.Errorf("redis hgetall %s: %w", at, err)
			}
			for f, v := range m {
				add(at+", field name "+strconv.Quote(f), f)
				add(at+", field "+strconv.Quote(f), v)
			}
		case "list":
			vs, err := rdb.LRange(ctx, key, 0, -1).Result()
			if err != nil {
				return nil, fmt.Errorf("redis lrange %s: %w", at, err)
			}
			for i, v := range vs {
				add(fmt.Sprintf("%s, item %d", at, i), v)
			}
		case "set":
			vs, err := rdb.SMembers(ctx, key).Result()
			if err != nil {
				return nil, fmt.Errorf("redis smembers %s: %w", at, err)
			}
			for _, v := range vs {
				add(at+", member", v)
			}
		case "zset":
			zs, err := rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
			if err != nil {
				return nil, fmt.Errorf("redis zrange %s: %w", at, err)
			}
			for _, z := range zs {
				add(at+", member", fmt.Sprint(z.Member))
				add(at+", score", strconv.FormatFloat(z.Score, 'f', -1, 64))
			}
		case "stream":
			xs, err := rdb.XRange(ctx, key, "-", "+").Result()
			if err != nil {
				return nil, fmt.Errorf("redis xrange %s: %w", at, err)
			}
			for _, x := range xs {
				for f, v := range x.Values {
					add(fmt.Sprintf("%s, entry %s, field %q", at, x.ID, f), f+"="+fmt.Sprint(v))
				}
			}
		default:
			// A type this scan cannot read would hide what it holds.
			return nil, fmt.Errorf("redis %s has type %s, which the scan does not read", at, typ)
		}
	}
	return out, nil
}

// sealedMin is the shortest value consent.Keyring.Seal makes: a version
// byte, a 12-byte nonce and a 16-byte tag.
const sealedMin = 1 + 12 + 16

// views returns the forms in which v's content can be searched: its bytes,
// every string inside it when it is JSON, and the decoding of every one of
// those that is base64 (as []byte values are in JSON).
func views(raw []byte) [][]byte {
	out := [][]byte{raw}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			out = append(out, []byte(x))
		case []any:
			for _, y := range x {
				walk(y)
			}
		case map[string]any:
			for k, y := range x {
				out = append(out, []byte(k))
				walk(y)
			}
		}
	}
	if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[' || raw[0] == '"') {
		var x any
		if json.Unmarshal(raw, &x) == nil {
			walk(x)
		}
	}
	for _, v := range slices.Clone(out) {
		if len(v) < 24 {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(string(v)); err == nil {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

// sealed reports whether b has the shape of consent.Keyring's sealed data.
func sealed(b []byte) bool { return len(b) >= sealedMin && b[0] == 1 }

// keyOpener opens sealed data with the live keys of the people the test
// knows, as anyone holding the server's secret and the keys database could.
type keyOpener struct {
	kr       *consent.Keyring
	subjects map[string]string // person → subject id
}

// open returns the person whose key opens b and the plain text, or "".
func (o *keyOpener) open(ctx context.Context, b []byte) (who string, plain []byte) {
	for _, p := range slices.Sorted(maps.Keys(o.subjects)) {
		if plain, err := o.kr.Open(ctx, o.subjects[p], b); err == nil {
			return p, plain
		}
	}
	return "", nil
}

// finding is a needle found in a stored value.
type finding struct {
	needle, where, how string
}

func (f finding) String() string { return fmt.Sprintf("%q in %s (%s)", f.needle, f.where, f.how) }

// search looks for each needle, case-insensitively, in every stored value:
// in clear, hex-encoded (a needle's bytes in hex, in the value's text),
// inside JSON strings, base64-decoded, and in what the value's sealed
// parts open to under the live keys.
func search(ctx context.Context, values []stored, o *keyOpener, needles []string) []finding {
	var out []finding
	for _, v := range values {
		type form struct {
			text, how string
		}
		var forms []form
		for i, b := range views(v.raw) {
			how := "in clear"
			if i > 0 {
				how = "inside the value (JSON or base64)"
			}
			forms = append(forms, form{strings.ToLower(string(b)), how})
			if o != nil && sealed(b) {
				if who, plain := o.open(ctx, b); who != "" {
					forms = append(forms, form{strings.ToLower(string(plain)), "sealed, opened with " + who + " live key"})
				}
			}
		}
		for _, n := range needles {
			ln := strings.ToLower(n)
			for _, f := range forms {
				switch {
				case strings.Contains(f.text, ln):
					out = append(out, finding{n, v.where, f.how})
				case strings.Contains(f.text, hex.EncodeToString([]byte(ln))) || strings.Contains(f.text, strings.ToLower(hex.EncodeToString([]byte(n)))):
					out = append(out, finding{n, v.where, f.how + ", hex-encoded"})
				default:
					continue
				}
				break
			}
		}
	}
	return out
}

// sealedValues returns every sealed blob in values, with where it is.
func sealedValues(values []stored) []stored {
	var out []stored
	for _, v := range values {
		for _, b := range views(v.raw) {
			if sealed(b) {
				out = append(out, stored{where: v.where, raw: b})
			}
		}
	}
	return out
}
