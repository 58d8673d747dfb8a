package consent

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

//go:embed notices/*.md
var embedded embed.FS

// DefaultLang is the language Notices.Current falls back to.
const DefaultLang = "en"

// Notice is the text shown when stating or asking about a purpose, in one
// language and one version. A published version's text never changes:
// a change is a new version, which asks again.
type Notice struct {
	Purpose Purpose
	// Lang is the notice's language, such as "it" or "en".
	Lang string
	// Version counts from 1.
	Version int
	// Text is exactly what is shown, plain text.
	Text string
}

// Hash returns the hex SHA-256 of the notice's text, the proof of what was
// shown.
func (n Notice) Hash() string {
	sum := sha256.Sum256([]byte(n.Text))
	return hex.EncodeToString(sum[:])
}

// String returns the notice's file name stem, "marketing.it.v2".
func (n Notice) String() string {
	return fmt.Sprintf("%s.%s.v%d", n.Purpose, n.Lang, n.Version)
}

type noticeKey struct {
	purpose Purpose
	lang    string
	version int
}

type latestKey struct {
	purpose Purpose
	lang    string
}

// Notices is a set of notices. It is not changed after it is made, so it
// is safe for concurrent use.
type Notices struct {
	all    map[noticeKey]Notice
	latest map[latestKey]int
}

// noticeFileRE matches notice file names: <purpose>.<lang>.v<N>.md.
var noticeFileRE = regexp.MustCompile(`^([a-z]+)\.([a-z]{2,3}(?:-[a-z0-9]{2,8})?)\.v([1-9][0-9]{0,5})\.md$`)

// maxNoticeBytes bounds a notice file; notices are short.
const maxNoticeBytes = 4096

// NewNotices returns Bottega's own notices (Italian and English, embedded)
// together with those in the root of each of extra, such as os.DirFS of
// a shop's folder of notices. Files are named <purpose>.<lang>.v<N>.md
// ("marketing.it.v2.md") and hold plain text; other files are ignored. A
// file may repeat a notice that is already known only with the same text:
// a version's text cannot be changed, so a change must be a new version.
func NewNotices(extra ...fs.FS) (*Notices, error) {
	ns := &Notices{all: make(map[noticeKey]Notice), latest: make(map[latestKey]int)}
	sub, err := fs.Sub(embedded, "notices")
	if err != nil {
		return nil, fmt.Errorf("consent: embedded notices: %w", err)
	}
	for _, fsys := range append([]fs.FS{sub}, extra...) {
		if err := ns.load(fsys); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

func (ns *Notices) load(fsys fs.FS) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("consent: read notices: %w", err)
	}
	for _, e := range entries {
		m := noticeFileRE.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		p := Purpose(m[1])
		if !p.Valid() {
			return fmt.Errorf("consent: notice %s: unknown purpose %q: %w", e.Name(), m[1], ErrInvalid)
		}
		version, _ := strconv.Atoi(m[3]) // the pattern allows only digits
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return fmt.Errorf("consent: read notice %s: %w", e.Name(), err)
		}
		n := Notice{Purpose: p, Lang: m[2], Version: version, Text: noticeText(data)}
		if err := ns.add(n, len(data)); err != nil {
			return fmt.Errorf("consent: notice %s: %w", e.Name(), err)
		}
	}
	return nil
}

// noticeText normalises a file's bytes to the text shown: line ends become
// "\n" (so a checkout that rewrites them keeps the hash) and surrounding
// blank space goes.
func noticeText(data []byte) string {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return strings.TrimSpace(s)
}

func (ns *Notices) add(n Notice, size int) error {
	switch {
	case size > maxNoticeBytes:
		return fmt.Errorf("longer than %d bytes: %w", maxNoticeBytes, ErrInvalid)
	case n.Text == "":
		return fmt.Errorf("empty: %w", ErrInvalid)
	case !utf8.ValidString(n.Text):
		return fmt.Errorf("not UTF-8: %w", ErrInvalid)
	}
	k := noticeKey{n.Purpose, n.Lang, n.Version}
	if old, ok := ns.all[k]; ok {
		if old.Text != n.Text {
			return fmt.Errorf("a different text for a published version; add version %d instead: %w",
				ns.latest[latestKey{n.Purpose, n.Lang}]+1, ErrInvalid)
		}
		return nil
	}
	ns.all[k] = n
	lk := latestKey{n.Purpose, n.Lang}
	ns.latest[lk] = max(ns.latest[lk], n.Version)
	return nil
}

// Current returns the newest notice for purpose in lang. When there is none
// in lang it tries lang's base language ("it" for "it-CH") and then
// DefaultLang. It returns the zero Notice when purpose has no notice.
func (ns *Notices) Current(purpose Purpose, lang string) Notice {
	for _, l := range fallbacks(lang) {
		if v := ns.latest[latestKey{purpose, l}]; v > 0 {
			return ns.all[noticeKey{purpose, l, v}]
		}
	}
	return Notice{}
}

// Find returns the notice for purpose in exactly lang and version.
func (ns *Notices) Find(purpose Purpose, lang string, version int) (Notice, bool) {
	n, ok := ns.all[noticeKey{purpose, lang, version}]
	return n, ok
}

// All returns every notice, ordered by purpose (as in Purposes), language
// and version.
func (ns *Notices) All() []Notice {
	order := make(map[Purpose]int)
	for i, p := range Purposes() {
		order[p] = i
	}
	all := make([]Notice, 0, len(ns.all))
	for _, n := range ns.all {
		all = append(all, n)
	}
	slices.SortFunc(all, func(a, b Notice) int {
		if c := order[a.Purpose] - order[b.Purpose]; c != 0 {
			return c
		}
		if c := strings.Compare(a.Lang, b.Lang); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return all
}

func fallbacks(lang string) []string {
	lang = strings.ToLower(lang)
	out := []string{lang}
	if base, _, ok := strings.Cut(lang, "-"); ok {
		out = append(out, base)
	}
	return append(out, DefaultLang)
}
