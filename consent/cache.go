package consent

import (
	"container/list"
	"time"
)

// lru is a bounded cache of values by string key, each trusted until it
// expires; the least recently used entry goes first when it is full. It is
// not safe for concurrent use: the Keyring's mutex guards its caches.
type lru[V any] struct {
	size  int
	order *list.List               // of *lruItem[V], most recent first
	items map[string]*list.Element // by key
}

type lruItem[V any] struct {
	key     string
	value   V
	expires time.Time
}

// newLRU returns a cache of up to size entries; 0 or less keeps none.
func newLRU[V any](size int) *lru[V] {
	return &lru[V]{size: size, order: list.New(), items: make(map[string]*list.Element)}
}

// get returns the value of key unless it is missing or expired at now; an
// expired entry is dropped.
func (c *lru[V]) get(key string, now time.Time) (V, bool) {
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	it := el.Value.(*lruItem[V])
	if !now.Before(it.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return it.value, true
}

// put stores value for key until expires, evicting the least recently
// used entries beyond the size.
func (c *lru[V]) put(key string, value V, expires time.Time) {
	if c.size <= 0 {
		return
	}
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
	}
	c.items[key] = c.order.PushFront(&lruItem[V]{key: key, value: value, expires: expires})
	for c.order.Len() > c.size {
		old := c.order.Remove(c.order.Back()).(*lruItem[V])
		delete(c.items, old.key)
	}
}

// drop removes key.
func (c *lru[V]) drop(key string) {
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
		delete(c.items, key)
	}
}

// dropFunc removes every entry for which match is true.
func (c *lru[V]) dropFunc(match func(key string, value V) bool) {
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		if it := el.Value.(*lruItem[V]); match(it.key, it.value) {
			c.order.Remove(el)
			delete(c.items, it.key)
		}
		el = next
	}
}
