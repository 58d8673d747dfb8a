package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/telegram/telegramtest"
	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// TestForgetMeErasesEverything is guarantee 8 end to end, on Telegram:
// a shopper chats — a stock question, her size, consent to notifications
// and to remembering sizes given with the buttons, her e-mail address and
// phone number — next to a second shopper; a copy of the stores is taken;
// she says "cancella i miei dati" and confirms. Then every row of every
// table of the main database, every Redis key and value, the keys
// database, the search index and the server's log are searched for her
// chat id, names, username, words and contact details, in clear, encoded
// and — with the server's secret and the live keys — inside sealed data:
// nothing may be found. The second shopper's words must still be found the
// same way, which shows that the search would see them. Last, the copy
// taken before the erasure is opened: her sealed data in it, readable
// before, now fails with consent.ErrErased, while his still opens.
func TestForgetMeErasesEverything(t *testing.T) {
	backends := chatBackends(t)
	if env, ok := backends["redis+postgres"]; ok {
		// The keys in a database of their own, as in production: a copy of
		// the main database then holds no key.
		env["BOTTEGA_KEYS_DATABASE_URL"] = testserver.Postgres(t)
	}
	for name, env := range backends {
		t.Run(name, func(t *testing.T) { forgetMe(t, env) })
	}
}

// telegramServer is a server started with env, Telegram on against a
// fake Bot API, its data in a folder of the test's own.
type telegramServer struct {
	dir, base          string
	api                *telegramtest.Server
	log                *syncBuffer
	secret, adminToken string // the server's, from env or its data folder
}

func startTelegramServer(t *testing.T, env map[string]string) *telegramServer {
	t.Helper()
	s := &telegramServer{dir: t.TempDir(), api: telegramtest.NewServer(t, testBotToken)}
	env["BOTTEGA_DATA_DIR"] = s.dir
	env["TELEGRAM_BOT_TOKEN"] = testBotToken
	env["TELEGRAM_WEBHOOK_SECRET"] = testWebhookSecret
	env["TELEGRAM_API_URL"] = s.api.URL
	s.base, s.log = startServer(t, env)
	s.secret, s.adminToken = env["BOTTEGA_SECRET_KEY"], env["BOTTEGA_ADMIN_TOKEN"]
	if s.secret == "" {
		s.secret = readSecretFile(t, s.dir, "secret-key")
	}
	if s.adminToken == "" {
		s.adminToken = readSecretFile(t, s.dir, "admin-token")
	}
	return s
}

func forgetMe(t *testing.T, env map[string]string) {
	ctx := context.Background()
	srv := startTelegramServer(t, env)
	dir, api, base, serverLog, secret, adminToken := srv.dir, srv.api, srv.base, srv.log, srv.secret, srv.adminToken
	embedded := env["DATABASE_URL"] == ""

	her := &tgShopper{t: t, base: base, api: api, chatID: 777000111, first: "Giovannangela", last: "Quercioli", user: "gquercioli77", update: 70000}
	him := &tgShopper{t: t, base: base, api: api, chatID: 555000222, first: "Ottavino", last: "Brambillasca", user: "obrambi55", update: 50000}
	subjects := map[string]string{
		"her": consent.SubjectID(secret, bot.Telegram, strconv.FormatInt(her.chatID, 10)),
		"his": consent.SubjectID(secret, bot.Telegram, strconv.FormatInt(him.chatID, 10)),
	}

	// The conversations.
	const (
		herEmail = "giovannangela.quercioli@example.org"
		herPhone = "+39 347 555 0199"
	)
	herWords := []string{
		"buongiorno, avete le trail runner rosse?",
		"porto il 42",
		"e nel 43 invece?",
		"se tornano scrivetemi a " + herEmail + " oppure al " + herPhone,
	}
	hisWords := []string{
		"avete le trail runner nere nel 45? chiedo per Tiburzio",
		"scrivetemi pure al +39 333 444 5566 quando arrivano",
	}
	logAnswer := func(who, said string, answer []tgSent) { t.Logf("%s: %q\n  bot: %q", who, said, answer) }
	logAnswer("her", herWords[0], her.say(herWords[0]))
	logAnswer("his", hisWords[0], him.say(hisWords[0]))
	answer := her.say(herWords[1])
	logAnswer("her", herWords[1], answer)
	notify := buttonWith(answer, "notify:")
	if notify == "" {
		t.Fatalf("the red 42 is sold out, but the answer to %q offers no notify-me button: %q", herWords[1], answer)
	}
	answer = her.press(notify)
	logAnswer("her", notify, answer)
	answer = her.press("consent:grant:notifications")
	logAnswer("her", "consent:grant:notifications", answer)
	answer = her.say(herWords[2])
	logAnswer("her", herWords[2], answer)
	answer = her.press("consent:grant:personalization")
	logAnswer("her", "consent:grant:personalization", answer)
	logAnswer("her", herWords[3], her.say(herWords[3]))
	logAnswer("his", hisWords[1], him.say(hisWords[1]))

	// What she agreed to is on the ledger: the conversation went as meant.
	sum := subjectSummary(t, base, adminToken, subjects["her"])
	for _, p := range []consent.Purpose{consent.Notifications, consent.Personalization} {
		if st := sum.Consents[p]; st.Action != consent.Grant {
			t.Fatalf("her consent to %s = %+v, want granted with the button", p, st)
		}
	}

	herIDs := []string{strconv.FormatInt(her.chatID, 10), her.first, her.last, her.user, herEmail, herPhone, "347 555 0199", "3475550199"}
	herNeedles := append(slices.Clone(herIDs), herWords...)

	// The copy taken before the erasure, as a backup of the main stores
	// would be (never of the keys database): on SQLite the database file
	// copied with VACUUM INTO through a connection of its own; on Postgres
	// and Redis every row of every table and every key's value, in memory.
	copyPath := filepath.Join(t.TempDir(), "before-erasure.db")
	var copied []stored
	if embedded {
		src := openSQLite(t, filepath.Join(dir, sqldb.SQLiteFile), false)
		if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, copyPath); err != nil {
			t.Fatalf("VACUUM INTO a copy: %v", err)
		}
		src.Close()
		copied = dumpSQLiteFile(t, copyPath, "the copy's")
	} else {
		copied = dumpMain(t, env)
	}

	// Her data in the copy opens now, with the live keys: so what is
	// checked after the erasure is not a copy that could never be read.
	keys := openKeyring(t, env, dir, secret)
	opener := &keyOpener{kr: keys, subjects: subjects}
	owner := make(map[string]string) // sealed bytes → whose key opened them
	plainOf := make(map[string]string)
	for _, v := range sealedValues(copied) {
		if who, plain := opener.open(ctx, v.raw); who != "" {
			owner[string(v.raw)], plainOf[string(v.raw)] = who, string(plain)
		}
	}
	if found := search(ctx, copied, opener, herWords); len(found) == 0 {
		t.Fatalf("before the erasure the copy shows none of her words, even opened with her key: the search would prove nothing (%d sealed values, %d opened)", len(sealedValues(copied)), len(owner))
	}
	countOf := func(who string) (n int) {
		for _, w := range owner {
			if w == who {
				n++
			}
		}
		return n
	}
	if countOf("her") == 0 || countOf("his") == 0 {
		t.Fatalf("the copy holds %d sealed values opened by her key and %d by his; want some of each", countOf("her"), countOf("his"))
	}

	// She asks to be forgotten and confirms.
	answer = her.say("cancella i miei dati")
	t.Logf("her: %q\n  bot: %q", "cancella i miei dati", answer)
	if buttonWith(answer, "privacy:forget:confirm") == "" {
		t.Fatalf("\"cancella i miei dati\" answered %q, want a confirm button", answer)
	}
	answer = her.press("privacy:forget:confirm")
	t.Logf("her: privacy:forget:confirm\n  bot: %q", answer)
	if !slices.ContainsFunc(answer, func(m tgSent) bool { return strings.Contains(m.Text, "cancellato") }) {
		t.Fatalf("the confirmed erasure answered %q, want the farewell saying it was erased", answer)
	}
	// One more answer for him, after hers: the queue has moved on from her
	// farewell and settled it.
	him.say("grazie mille")

	// The live stores: nothing of hers, his words still there.
	var live []stored
	if embedded {
		live = dumpSQLiteFile(t, filepath.Join(dir, sqldb.SQLiteFile), "main database")
	} else {
		live = dumpMain(t, env)
	}
	live = append(live, dumpKeys(t, env, dir)...)
	for _, f := range search(ctx, live, opener, herNeedles) {
		t.Errorf("after the erasure the stores still hold her %s", f)
	}
	for _, w := range hisWords {
		if len(search(ctx, live, opener, []string{w})) == 0 {
			t.Errorf("his words %q are not found in the live stores: the erasure took too much, or the search sees nothing", w)
		}
	}
	if embedded {
		// The files themselves, free pages and write-ahead logs included:
		// her identifiers must not linger in what was deleted, for a copy
		// of the data folder would hold them. (Her words are sealed, so
		// only identifiers written in clear can show here. On Postgres the
		// equivalent, dead tuples before VACUUM, is out of this test's
		// reach.)
		for _, name := range []string{sqldb.SQLiteFile, sqldb.SQLiteFile + "-wal", sqlconsent.KeysFile, sqlconsent.KeysFile + "-wal"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range search(ctx, []stored{{where: "the file " + name, raw: b}}, nil, herIDs) {
				t.Errorf("after the erasure %s", f)
			}
		}
	}

	// The keys database: her key and links are gone, his are there.
	for who, want := range map[string]int{"her": 0, "his": 1} {
		if n := keyRows(t, env, dir, subjects[who]); n != want {
			t.Errorf("the keys database has %d key rows for %s subject, want %d", n, who, want)
		}
		if has, err := keys.Has(ctx, subjects[who]); err != nil || has != (want == 1) {
			t.Errorf("Keyring.Has(%s subject) = %v, %v; want %v", who, has, err, want == 1)
		}
	}

	// The search index holds products only: the admin search can return
	// nothing but catalog products, so all this shows is that none of them
	// took up anything of hers.
	for _, n := range herNeedles {
		for _, p := range adminSearch(t, base, adminToken, n) {
			b, _ := json.Marshal(p)
			for _, f := range search(ctx, []stored{{where: "search hit " + p.Handle, raw: b}}, nil, herNeedles) {
				t.Errorf("searching %q: %s", n, f)
			}
		}
	}

	// What the admin API still counts for her: only the ledger's consent
	// events, kept under her pseudonymous subject as proof of consent
	// (guarantee 7; the erasure report says so), nothing else.
	sum = subjectSummary(t, base, adminToken, subjects["her"])
	for _, h := range sum.Held {
		if h.What != "consents" {
			t.Errorf("after the erasure the admin summary of her subject still counts %d %s", h.Count, h.What)
		}
	}

	// The server's log.
	lower := strings.ToLower(serverLog.String())
	for _, n := range herNeedles {
		if strings.Contains(lower, strings.ToLower(n)) {
			t.Errorf("the server's log holds her %q", n)
		}
	}

	// The copy taken before: her sealed data in it can no longer be read;
	// his still can.
	if embedded {
		copied = dumpSQLiteFile(t, copyPath, "the copy's")
	}
	fresh := openKeyring(t, env, dir, secret)
	opened := map[string]int{}
	for _, v := range sealedValues(copied) {
		who := owner[string(v.raw)]
		if who == "" {
			continue
		}
		plain, err := fresh.Open(ctx, subjects[who], v.raw)
		switch {
		case who == "her" && !errors.Is(err, consent.ErrErased):
			t.Errorf("her sealed value in the copy (%s) opens with %v after the erasure, want consent.ErrErased", v.where, err)
		case who == "his" && (err != nil || string(plain) != plainOf[string(v.raw)]):
			t.Errorf("his sealed value in the copy (%s) no longer opens: %v", v.where, err)
		}
		opened[who]++
	}
	if opened["her"] != countOf("her") || opened["his"] != countOf("his") {
		t.Errorf("the copy read again holds %v sealed values of hers and his, want %d and %d as before", opened, countOf("her"), countOf("his"))
	}
	if found := search(ctx, copied, &keyOpener{kr: fresh, subjects: subjects}, herWords); len(found) > 0 {
		t.Errorf("the copy taken before the erasure still shows her words with the live keys: %v", found)
	}
}

// readSecretFile reads a secret the server keeps in its data folder.
func readSecretFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("the server's %s: %v", name, err)
	}
	return strings.TrimSpace(string(b))
}

// openSQLite opens a SQLite file through connections of the test's own.
func openSQLite(t *testing.T, path string, readOnly bool) *sql.DB {
	t.Helper()
	dsn := path + "?_busy_timeout=10000"
	if readOnly {
		dsn += "&_pragma=query_only(1)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// dumpSQLiteFile reads every row of every table of the SQLite file at path.
func dumpSQLiteFile(t *testing.T, path, label string) []stored {
	t.Helper()
	db := openSQLite(t, path, true)
	defer db.Close()
	out, err := dumpSQL(context.Background(), db, false, label)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dumpMain reads every row of every table of the Postgres database and
// every key of the Redis database the server uses.
func dumpMain(t *testing.T, env map[string]string) []stored {
	t.Helper()
	ctx := context.Background()
	db := testserver.PostgresDB(t, env["DATABASE_URL"])
	out, err := dumpSQL(ctx, db.R, true, "main database")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	opts, err := redis.ParseURL(env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	kv, err := dumpRedis(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, kv...)
}

// keysDB opens the server's keys database: the file next to the main
// database, or BOTTEGA_KEYS_DATABASE_URL.
func keysDB(t *testing.T, env map[string]string, dir string) *sqldb.DB {
	t.Helper()
	if u := env["BOTTEGA_KEYS_DATABASE_URL"]; u != "" {
		return testserver.PostgresDB(t, u)
	}
	if env["DATABASE_URL"] != "" {
		return testserver.PostgresDB(t, env["DATABASE_URL"])
	}
	return testserver.SQLiteDB(t, filepath.Join(dir, sqlconsent.KeysFile))
}

// openKeyring builds a Keyring over the server's live keys database with
// the server's secret, remembering no key, as an operator or an attacker
// holding both could.
func openKeyring(t *testing.T, env map[string]string, dir, secret string) *consent.Keyring {
	t.Helper()
	store, err := sqlconsent.NewKeyStore(keysDB(t, env, dir))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := consent.NewKeyring(store, []byte(secret), consent.WithKeyCache(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// dumpKeys reads every row of the keys database.
func dumpKeys(t *testing.T, env map[string]string, dir string) []stored {
	t.Helper()
	db := keysDB(t, env, dir)
	defer db.Close()
	out, err := dumpSQL(context.Background(), db.R, db.Dialect == sqldb.Postgres, "keys database")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keyRows counts subject's rows in the keys database's key table.
func keyRows(t *testing.T, env map[string]string, dir, subject string) int {
	t.Helper()
	db := keysDB(t, env, dir)
	defer db.Close()
	var n int
	if err := db.R.QueryRow(`SELECT count(*) FROM consent_keys WHERE subject = $1`, subject).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var links int
	if err := db.R.QueryRow(`SELECT count(*) FROM consent_key_links WHERE subject = $1`, subject).Scan(&links); err != nil {
		t.Fatal(err)
	}
	if n == 0 && links > 0 {
		t.Errorf("the keys database holds %d conversation links of a subject without a key", links)
	}
	return n
}

// subjectSummary reads the admin API's summary of subject.
func subjectSummary(t *testing.T, base, token, subject string) consent.Summary {
	t.Helper()
	st, body := call(t, "GET", base+"/api/admin/subjects/"+subject+"?reason=erasure+check", token, "", nil)
	var s consent.Summary
	if st != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("admin summary of a subject = %d %.300s", st, body)
	}
	return s
}

// adminSearch searches the catalog through the admin API.
func adminSearch(t *testing.T, base, token, q string) []catalog.Product {
	t.Helper()
	st, body := call(t, "GET", base+"/api/admin/search?limit=100&q="+url.QueryEscape(q), token, "", nil)
	var res catalog.SearchResult
	if st != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil {
		t.Fatalf("admin search = %d %.300s", st, body)
	}
	return res.Products
}
