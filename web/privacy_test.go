package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
	"github.com/bottega-shop/bottega/web"
)

var privacySecret = []byte("web-privacy-test-secret-0123456789abcdef")

const shopURL = "https://shop.example"

// chats is a conversation store of the test's own: lines by conversation
// key, a consent.Holder.
type chats struct {
	mu    sync.Mutex
	lines map[string][]string
}

func (c *chats) Name() string { return "conversations" }

func (c *chats) Held(_ context.Context, _ string, convs []string) ([]consent.Holding, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range convs {
		n += len(c.lines[k])
	}
	return []consent.Holding{{What: "conversation", Count: n}}, nil
}

func (c *chats) Export(_ context.Context, _ string, convs []string) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, k := range convs {
		var msgs []map[string]any
		for i, l := range c.lines[k] {
			msgs = append(msgs, map[string]any{"seq": i + 1, "from": "shopper", "text": l, "at": "2026-03-14T10:00:00Z"})
		}
		if msgs != nil {
			out = append(out, map[string]any{"conversation": k, "messages": msgs})
		}
	}
	return json.Marshal(map[string]any{"conversations": out})
}

func (c *chats) Erase(_ context.Context, _ string, convs []string) (consent.StoreReport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range convs {
		n += len(c.lines[k])
		delete(c.lines, k)
	}
	return consent.StoreReport{Erased: n}, nil
}

type privacyRig struct {
	*harness
	ledger *consent.Ledger
	keys   *consent.Keyring
	chats  *chats
	audit  *sqlconsent.Audit
	now    time.Time
	mu     sync.Mutex
}

func (r *privacyRig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *privacyRig) advance(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = r.now.Add(d)
}

func newPrivacyRig(t *testing.T) *privacyRig {
	t.Helper()
	r := &privacyRig{chats: &chats{lines: map[string][]string{}}, now: time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	main := testserver.SQLiteDB(t, filepath.Join(dir, sqldb.SQLiteFile))
	keysDB := testserver.SQLiteDB(t, filepath.Join(dir, sqlconsent.KeysFile))
	store, err := sqlconsent.New(main)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := consent.NewNotices()
	if err != nil {
		t.Fatal(err)
	}
	r.ledger = consent.New(store, ns, consent.WithNow(r.clock))
	ks, err := sqlconsent.NewKeyStore(keysDB)
	if err != nil {
		t.Fatal(err)
	}
	if r.keys, err = consent.NewKeyring(ks, privacySecret, consent.WithKeyringNow(r.clock)); err != nil {
		t.Fatal(err)
	}
	tokens, err := sqlconsent.NewTokens(main, r.clock)
	if err != nil {
		t.Fatal(err)
	}
	if r.audit, err = sqlconsent.NewAudit(main, r.clock); err != nil {
		t.Fatal(err)
	}
	svc, err := consent.NewService(r.ledger, r.keys, privacySecret,
		consent.WithTokenStore(tokens), consent.WithPublicURL(shopURL), consent.WithServiceNow(r.clock),
		consent.WithHolder(r.chats))
	if err != nil {
		t.Fatal(err)
	}
	r.harness = newHarness(t, func(cfg *web.Config) {
		cfg.Privacy, cfg.Exports, cfg.Audit = svc, svc, r.audit
	})
	return r
}

type shopper struct{ subject, conversation string }

// chat makes a Telegram user who granted notifications and said lines.
func (r *privacyRig) chat(t *testing.T, name string, lines ...string) shopper {
	t.Helper()
	ctx := context.Background()
	p := shopper{subject: consent.SubjectID(string(privacySecret), "telegram", name), conversation: "telegram:" + name}
	if _, err := r.ledger.Record(ctx, consent.Event{
		Subject: p.subject, Purpose: consent.Notifications, NoticeVersion: 1, Lang: "it",
		Channel: "telegram", Method: consent.Button, MessageID: "cb-1", Action: consent.Grant, Actor: consent.Shopper,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.keys.Seal(ctx, p.subject, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := r.keys.Link(ctx, p.subject, p.conversation); err != nil {
		t.Fatal(err)
	}
	r.chats.mu.Lock()
	r.chats.lines[p.conversation] = append(r.chats.lines[p.conversation], lines...)
	r.chats.mu.Unlock()
	return p
}

// call sends an admin request with an optional access reason header.
func (r *privacyRig) call(method, path, reason string) (int, http.Header, []byte) {
	r.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if reason != "" {
		req.Header.Set("X-Access-Reason", reason)
	}
	return r.send(req)
}

func (r *privacyRig) send(req *http.Request) (int, http.Header, []byte) {
	r.t.Helper()
	resp, err := r.srv.App().Test(req, -1)
	if err != nil {
		r.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: read the body: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, resp.Header, b
}

func (r *privacyRig) accesses(t *testing.T) []consent.Access {
	t.Helper()
	got, err := r.audit.List(context.Background(), consent.AccessFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("response is not the JSON expected: %v: %s", err, b)
	}
	return v
}

func TestPrivacyAuth(t *testing.T) {
	r := newPrivacyRig(t)
	ada := r.chat(t, "ada", "ciao")
	paths := []struct{ method, path string }{
		{"GET", "/api/admin/subjects"},
		{"GET", "/api/admin/subjects/" + ada.subject},
		{"POST", "/api/admin/subjects/" + ada.subject + "/export"},
		{"DELETE", "/api/admin/subjects/" + ada.subject},
		{"GET", "/api/admin/audit"},
	}
	for _, p := range paths {
		for _, tok := range []string{"", "wrong-token-wrong-token"} {
			req := httptest.NewRequest(p.method, p.path, nil)
			req.Header.Set("X-Access-Reason", "ticket 1")
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			if st, _, _ := r.send(req); st != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q = %d, want 401", p.method, p.path, tok, st)
			}
		}
	}
	if got := r.accesses(t); len(got) != 0 {
		t.Errorf("unauthorized calls were audited: %v", got)
	}
	if st, _, _ := r.call("GET", "/api/admin/subjects/"+ada.subject, "ticket 1"); st != http.StatusOK {
		t.Errorf("the same call with the token = %d, want 200", st)
	}
}

func TestPrivacyDisabled(t *testing.T) {
	h := newHarness(t, nil)
	subj := consent.SubjectID("x", "telegram", "1")
	for _, p := range []struct{ method, path string }{
		{"GET", "/api/admin/subjects"}, {"GET", "/api/admin/subjects/" + subj},
		{"POST", "/api/admin/subjects/" + subj + "/export"}, {"DELETE", "/api/admin/subjects/" + subj},
		{"GET", "/api/admin/audit"}, {"GET", "/privacy/export/abc"},
	} {
		if st, _ := h.do(p.method, p.path, "", nil, token); st != http.StatusNotFound {
			t.Errorf("%s %s without data rights configured = %d, want 404", p.method, p.path, st)
		}
	}
}

func TestListSubjects(t *testing.T) {
	r := newPrivacyRig(t)
	ada, bob := r.chat(t, "ada"), r.chat(t, "bob")
	st, _, b := r.call("GET", "/api/admin/subjects", "")
	if st != http.StatusOK {
		t.Fatalf("GET /subjects = %d %s", st, b)
	}
	type page struct {
		Subjects []consent.SubjectInfo
		Next     string
	}
	got := decode[page](t, b)
	if len(got.Subjects) != 2 || got.Next != "" {
		t.Fatalf("GET /subjects = %+v, want two subjects and no next", got)
	}
	for _, s := range got.Subjects {
		if (s.Subject != ada.subject && s.Subject != bob.subject) || len(s.Channels) != 1 || s.Channels[0] != "telegram" || !s.Created.Equal(r.clock()) {
			t.Errorf("subject %+v, want ada or bob on telegram, created now", s)
		}
	}
	st, _, b = r.call("GET", "/api/admin/subjects?limit=1", "")
	first := decode[page](t, b)
	if st != http.StatusOK || len(first.Subjects) != 1 || first.Next != first.Subjects[0].Subject {
		t.Fatalf("GET /subjects?limit=1 = %d %+v, want one subject and next", st, first)
	}
	_, _, b = r.call("GET", "/api/admin/subjects?limit=1&after="+first.Next, "")
	if second := decode[page](t, b); len(second.Subjects) != 1 || second.Subjects[0].Subject == first.Subjects[0].Subject {
		t.Errorf("the second page = %+v, want the other subject", second)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x"} {
		if st, _, _ := r.call("GET", "/api/admin/subjects?"+q, ""); st != http.StatusBadRequest {
			t.Errorf("GET /subjects?%s = %d, want 400", q, st)
		}
	}
	if got := r.accesses(t); len(got) != 0 {
		t.Errorf("listing subjects was audited: %v", got)
	}
}

func TestSubjectSummary(t *testing.T) {
	r := newPrivacyRig(t)
	ada := r.chat(t, "ada", "avete le trail runner?", "nel 42")
	path := "/api/admin/subjects/" + ada.subject

	st, _, b := r.call("GET", path, "")
	if st != http.StatusBadRequest || !strings.Contains(string(b), "X-Access-Reason") {
		t.Errorf("GET without a reason = %d %s, want 400 naming X-Access-Reason", st, b)
	}
	if got := r.accesses(t); len(got) != 0 {
		t.Errorf("a refused call was audited: %v", got)
	}

	st, h, b := r.call("GET", path, "ticket 4711")
	if st != http.StatusOK {
		t.Fatalf("GET with a reason = %d %s", st, b)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", h.Get("Cache-Control"))
	}
	sum := decode[consent.Summary](t, b)
	if sum.Subject != ada.subject || len(sum.Receipts) != 1 || !sum.Consents[consent.Notifications].Granted ||
		len(sum.Held) != 2 || sum.Held[0] != (consent.Holding{What: "consents", Count: 1}) || sum.Held[1] != (consent.Holding{What: "conversation", Count: 2}) {
		t.Errorf("GET %s = %+v, want ada's grant, 1 consent and 2 lines held", path, sum)
	}

	// The reason may come as a query parameter; the header wins.
	if st, _, _ := r.call("GET", path+"?reason=ticket+4712", ""); st != http.StatusOK {
		t.Errorf("GET with ?reason = %d, want 200", st)
	}
	if st, _, _ := r.call("GET", path+"?reason=from+the+query", "from the header"); st != http.StatusOK {
		t.Errorf("GET with both = %d, want 200", st)
	}
	nobody := consent.SubjectID("x", "telegram", "nobody")
	st, _, b = r.call("GET", "/api/admin/subjects/"+nobody, "ticket 9")
	if st != http.StatusNotFound || strings.Contains(string(b), nobody) {
		t.Errorf("GET unknown subject = %d %s, want 404 without the subject", st, b)
	}
	if st, _, _ := r.call("GET", "/api/admin/subjects/telegram:ada", "ticket 9"); st != http.StatusBadRequest {
		t.Errorf("GET a malformed subject = %d, want 400", st)
	}
	if st, _, _ := r.call("GET", path, strings.Repeat("x", consent.MaxAccessReason+1)); st != http.StatusBadRequest {
		t.Errorf("GET with a too long reason = %d, want 400", st)
	}

	var got []string
	for _, a := range r.accesses(t) {
		got = append(got, fmt.Sprintf("%s|%.8s|%s|%s", a.Actor, a.Subject, a.What, a.Why))
	}
	want := []string{
		"admin|" + nobody[:8] + "|summary|ticket 9",
		"admin|" + ada.subject[:8] + "|summary|from the header",
		"admin|" + ada.subject[:8] + "|summary|ticket 4712",
		"admin|" + ada.subject[:8] + "|summary|ticket 4711",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the audit =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// exportLink asks for p's export link and returns its path.
func (r *privacyRig) exportLink(t *testing.T, p shopper) string {
	t.Helper()
	st, _, b := r.call("POST", "/api/admin/subjects/"+p.subject+"/export", "subject access request")
	if st != http.StatusOK {
		t.Fatalf("POST export = %d %s", st, b)
	}
	got := decode[struct {
		URL     string
		Expires time.Time
	}](t, b)
	u, err := url.Parse(got.URL)
	if err != nil || !strings.HasPrefix(got.URL, shopURL+"/privacy/export/") || !got.Expires.Equal(r.clock().Add(consent.DefaultLinkTTL)) {
		t.Fatalf("POST export = %+v, want a link under %s/privacy/export/ for 24h", got, shopURL)
	}
	return u.Path
}

func TestExportDownload(t *testing.T) {
	r := newPrivacyRig(t)
	ada, bob := r.chat(t, "ada", "avete le trail runner?"), r.chat(t, "bob", "ciao")
	if st, _, _ := r.call("POST", "/api/admin/subjects/"+ada.subject+"/export", ""); st != http.StatusBadRequest {
		t.Errorf("POST export without a reason = %d, want 400", st)
	}
	link := r.exportLink(t, ada)

	get := func(path string) (int, http.Header, []byte) {
		return r.send(httptest.NewRequest("GET", path, nil)) // no token: the link is the credential
	}
	st, h, b := get(link)
	if st != http.StatusOK {
		t.Fatalf("GET %s = %d %s", link, st, b)
	}
	if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "bottega-export-2026-03-14.json") {
		t.Errorf("Content-Disposition = %q, want an attachment", cd)
	}
	if h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v, want JSON and no-store", h)
	}
	x := decode[struct {
		Format        string
		Profile       struct{ Subject string }
		Conversations []struct {
			Conversation string
			Messages     []struct{ Text string }
		}
		Orders []any
	}](t, b)
	if x.Format != consent.ExportFormat || x.Profile.Subject != ada.subject || len(x.Conversations) != 1 ||
		x.Conversations[0].Messages[0].Text != "avete le trail runner?" || x.Orders == nil {
		t.Errorf("the export = %s, want ada's conversation in %s", b, consent.ExportFormat)
	}

	if st, _, b := get(link); st != http.StatusGone || !strings.Contains(string(b), "expired or was used") {
		t.Errorf("GET the link again = %d %s, want 410", st, b)
	}
	forged := link[:len(link)-3] + "AAA"
	if forged == link {
		forged = link[:len(link)-3] + "BBB"
	}
	for _, p := range []string{forged, "/privacy/export/nope", "/privacy/export/" + strings.Repeat("A", 119)} {
		if st, _, b := get(p); st != http.StatusNotFound || strings.Contains(string(b), ada.subject) {
			t.Errorf("GET %s = %d %s, want a bare 404", p, st, b)
		}
	}

	expiring := r.exportLink(t, bob)
	r.advance(consent.DefaultLinkTTL + time.Second)
	if st, _, _ := get(expiring); st != http.StatusGone {
		t.Errorf("GET an expired link = %d, want 410", st)
	}

	erased := r.exportLink(t, bob)
	if st, _, b := r.call("DELETE", "/api/admin/subjects/"+bob.subject, "erasure request"); st != http.StatusOK {
		t.Fatalf("DELETE bob = %d %s", st, b)
	}
	if st, _, _ := get(erased); st != http.StatusNotFound {
		t.Errorf("GET the link of a person erased since = %d, want 404", st)
	}

	var whats []string
	for _, a := range r.accesses(t) {
		if a.Subject == ada.subject {
			whats = append(whats, a.Actor+" "+a.What)
		}
	}
	if got := strings.Join(whats, ", "); got != "subject export, admin export link" {
		t.Errorf("ada's accesses = %q, want the link and the download", got)
	}
}

func TestEraseSubject(t *testing.T) {
	r := newPrivacyRig(t)
	ada, bob := r.chat(t, "ada", "uno", "due"), r.chat(t, "bob", "tre")
	path := "/api/admin/subjects/" + ada.subject
	if st, _, _ := r.call("DELETE", path, ""); st != http.StatusBadRequest {
		t.Errorf("DELETE without a reason = %d, want 400", st)
	}
	st, _, b := r.call("DELETE", path, "erasure request 17")
	if st != http.StatusOK {
		t.Fatalf("DELETE = %d %s", st, b)
	}
	rep := decode[consent.Report](t, b)
	var stores []string
	for _, s := range rep.Stores {
		stores = append(stores, fmt.Sprintf("%s:%d:%s", s.Store, s.Erased, s.Err))
	}
	if want := "ledger:0:, conversations:2:, keys:2:"; strings.Join(stores, ", ") != want || rep.Subject != ada.subject {
		t.Errorf("DELETE report stores = %q, want %q", strings.Join(stores, ", "), want)
	}
	if st, _, _ := r.call("DELETE", path, "again"); st != http.StatusNotFound {
		t.Errorf("DELETE again = %d, want 404", st)
	}
	if st, _, _ := r.call("DELETE", "/api/admin/subjects/"+consent.SubjectID("x", "telegram", "nobody"), "x"); st != http.StatusNotFound {
		t.Errorf("DELETE unknown = %d, want 404", st)
	}
	// Bob is untouched; ada's summary keeps only the ledger's proof.
	st, _, b = r.call("GET", "/api/admin/subjects/"+bob.subject, "check")
	if sum := decode[consent.Summary](t, b); st != http.StatusOK || len(sum.Held) != 2 {
		t.Errorf("GET bob after erasing ada = %d %+v, want his data", st, sum)
	}
	st, _, b = r.call("GET", path, "check")
	if sum := decode[consent.Summary](t, b); st != http.StatusOK || len(sum.Held) != 1 || sum.Receipts[len(sum.Receipts)-1].Action != consent.Erase {
		t.Errorf("GET ada after her erasure = %d %+v, want only the consent records ending in the erasure", st, sum)
	}
}

func TestAuditList(t *testing.T) {
	r := newPrivacyRig(t)
	ada, bob := r.chat(t, "ada"), r.chat(t, "bob")
	for i := range 3 {
		r.call("GET", "/api/admin/subjects/"+ada.subject, fmt.Sprint("ada ", i))
		r.call("GET", "/api/admin/subjects/"+bob.subject, fmt.Sprint("bob ", i))
	}
	type page struct {
		Accesses []consent.Access
		Next     int64
	}
	whys := func(p page) string {
		var s []string
		for _, a := range p.Accesses {
			s = append(s, a.Why)
		}
		return strings.Join(s, ",")
	}
	tests := []struct{ query, want string }{
		{"", "bob 2,ada 2,bob 1,ada 1,bob 0,ada 0"},
		{"subject=" + ada.subject, "ada 2,ada 1,ada 0"},
		{"actor=admin&limit=2", "bob 2,ada 2"},
		{"actor=agent:marta", ""},
	}
	for _, tt := range tests {
		st, _, b := r.call("GET", "/api/admin/audit?"+tt.query, "")
		if got := decode[page](t, b); st != http.StatusOK || whys(got) != tt.want {
			t.Errorf("GET /audit?%s = %d %q, want %q", tt.query, st, whys(got), tt.want)
		}
	}
	_, _, b := r.call("GET", "/api/admin/audit?limit=4", "")
	first := decode[page](t, b)
	_, _, b = r.call("GET", fmt.Sprintf("/api/admin/audit?limit=4&before=%d", first.Next), "")
	if second := decode[page](t, b); whys(second) != "bob 0,ada 0" || second.Next != 0 {
		t.Errorf("the second page = %q next %d, want the last two and no next", whys(second), second.Next)
	}
	for _, q := range []string{"limit=0", "limit=1001", "before=-1", "before=x"} {
		if st, _, _ := r.call("GET", "/api/admin/audit?"+q, ""); st != http.StatusBadRequest {
			t.Errorf("GET /audit?%s = %d, want 400", q, st)
		}
	}
}
