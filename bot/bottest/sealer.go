package bottest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bottega-shop/bottega/bot"
)

// xorSealer is a bot.Sealer for tests: it masks bytes with a per-key byte
// and a magic prefix, so what reaches the store never holds the plain
// text, and it can erase a key.
type xorSealer struct {
	mu     sync.Mutex
	erased map[string]bool
}

const sealMagic = "sealed1:"

func (x *xorSealer) mask(key string, b []byte) []byte {
	m := byte(len(key)) | 0x80
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ m
	}
	return out
}

func (x *xorSealer) Seal(ctx context.Context, key string, plain []byte) ([]byte, error) {
	return append([]byte(sealMagic), x.mask(key, plain)...), nil
}

func (x *xorSealer) Open(ctx context.Context, key string, sealed []byte) ([]byte, error) {
	x.mu.Lock()
	erased := x.erased[key]
	x.mu.Unlock()
	switch {
	case erased:
		return nil, fmt.Errorf("open %s: %w", key, bot.ErrErased)
	case len(sealed) < len(sealMagic) || string(sealed[:len(sealMagic)]) != sealMagic:
		return nil, errors.New("open: not sealed by this sealer")
	}
	return x.mask(key, sealed[len(sealMagic):]), nil
}

// erase forgets key's key: what was sealed for it can no longer be opened.
func (x *xorSealer) erase(key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.erased == nil {
		x.erased = make(map[string]bool)
	}
	x.erased[key] = true
}
