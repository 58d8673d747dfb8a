package dialogs

import (
	"unicode"
	"unicode/utf8"
)

// maxTokens bounds the words one message is read for; the rest are ignored.
const maxTokens = 64

// maxWordLen is the longest word read, in bytes.
const maxWordLen = 48

// maxScan is how much of a message is read, in bytes: more than maxTokens
// words of any real message.
const maxScan = 1024

// foldRune lowercases r and strips the accents of Latin letters, as
// catalog.Fold does, without its allocations.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	r = unicode.ToLower(r)
	switch r {
	case 'à', 'á', 'â', 'ä', 'ã', 'å', 'ā':
		return 'a'
	case 'è', 'é', 'ê', 'ë', 'ē':
		return 'e'
	case 'ì', 'í', 'î', 'ï', 'ī':
		return 'i'
	case 'ò', 'ó', 'ô', 'ö', 'õ', 'ø', 'ō':
		return 'o'
	case 'ù', 'ú', 'û', 'ü', 'ū':
		return 'u'
	case 'ç':
		return 'c'
	case 'ñ':
		return 'n'
	case 'ß':
		return 's'
	case '’', '‘', 'ʼ', '`', '´':
		return '\''
	}
	return r
}

func isWordRune(r rune) bool {
	return r == '½' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func isDigit(r byte) bool { return '0' <= r && r <= '9' }

// tokenize folds s and splits it into words. Inside a number "." "," and
// "/" are kept ("42,5", "1/2"); "½" sticks to the number before it. An
// Italian elision keeps its apostrophe ("l'", "dell'", "c'"); an English
// "'s" or "'t" is dropped ("men's" → "men"). Invalid UTF-8 separates words.
// At most maxTokens words are returned, from the first maxScan bytes.
func tokenize(s string, out []string) []string {
	// The word is folded into buf; when that leaves it as it was written,
	// the word is a substring of s and costs no allocation.
	var buf [maxWordLen]byte
	n := 0             // the folded word's length, also past len(buf)
	start, end := 0, 0 // its span in s
	flush := func() {
		// A word longer than maxWordLen names nothing: it is dropped.
		if n > 0 && n <= maxWordLen && len(out) < maxTokens {
			if w := buf[:n]; string(w) == s[start:end] {
				out = append(out, s[start:end])
			} else {
				out = append(out, string(w))
			}
		}
		n = 0
	}
	// write adds f, read from s[at:next], to the word.
	write := func(f rune, at, next int) {
		if n == 0 {
			start = at
		}
		end = next
		if size := utf8.RuneLen(f); n+size <= len(buf) {
			utf8.EncodeRune(buf[n:], f)
			n += size
		} else {
			n = len(buf) + 1 // too long
		}
	}
	prevDigit := false
	for i := 0; i < len(s) && i < maxScan && len(out) < maxTokens; {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			flush()
			prevDigit = false
			i++
			continue
		}
		f := foldRune(r)
		next := i + size
		switch {
		case isWordRune(f):
			if f == '½' && n > 0 && !prevDigit {
				flush()
			}
			write(f, i, next)
			prevDigit = f >= '0' && f <= '9' || f == '½'
		case (f == '.' || f == ',' || f == '/') && prevDigit && next < len(s) && isDigit(s[next]):
			write(f, i, next)
			prevDigit = false
		case f == '\'':
			if n == 0 {
				break
			}
			// "men's", "don't": drop the suffix letter.
			if next < len(s) && (s[next] == 's' || s[next] == 't') && (next+1 == len(s) || !isWordByte(s[next+1])) {
				flush()
				next++
				break
			}
			write('\'', i, next)
			flush()
		default:
			flush()
			prevDigit = false
		}
		i = next
	}
	flush()
	return out
}

func isWordByte(c byte) bool {
	return c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c)
}

// words tokenizes s into a new slice.
func words(s string) []string { return tokenize(s, nil) }

// typoBudget is how many typos a word of n letters may carry and still
// match, by Meilisearch's defaults that the catalog search follows.
func typoBudget(n int) int {
	switch {
	case n >= 9:
		return 2
	case n >= 5:
		return 1
	}
	return 0
}

// typoMatch reports whether query word q matches word w exactly (0), with
// typos within q's budget (1 or 2), or not at all (-1). A wrong first letter
// counts as two typos, a transposition as one.
func typoMatch(q, w string) int {
	if q == w {
		return 0
	}
	k := typoBudget(utf8.RuneCountInString(q))
	if k == 0 {
		return -1
	}
	if len(q) > 0 && len(w) > 0 && q[0] != w[0] {
		k -= 1 // the first letter's typo costs one more
		if k <= 0 {
			return -1
		}
	}
	if d := distance(q, w, k); d <= k {
		if q[0] != w[0] {
			d++
		}
		return max(d, 1)
	}
	return -1
}

// distance returns the optimal-string-alignment distance between a and b,
// or k+1 if it exceeds k. Both are compared byte by byte, which suits the
// folded words it is given.
func distance(a, b string, k int) int {
	if abs(len(a)-len(b)) > k {
		return k + 1
	}
	if len(a) > 64 || len(b) > 64 {
		return k + 1
	}
	var rows [3][65]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if best > k {
			return k + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// truncate shortens s to at most n runes, ending it with "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
