package blevecatalog

// WithoutMatchCache turns off the documents kept per query word (see
// wordCache), for tests that compare searches with and without them.
func WithoutMatchCache() Option {
	return func(x *Index) { x.reach.matchesOff = true }
}
